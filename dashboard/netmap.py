"""The network map page (/map): devices by zone and their links in a window, the links between
zones, and a CSRF-protected form that puts selected devices in a zone (and at a Purdue level),
audited like the device page's annotation. Mounted through the ``mieruka.routers`` entry point."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from core.analytics import assets as asset_ledger
from core.api.deps import DB, ClickHouse
from core.api.routes.assets import Annotation
from core.api.routes.zones import audit_zoning
from dashboard import csrf
from dashboard.i18n import translator
from dashboard.mapview import KEEP, map_context
from dashboard.overview import DEFAULT_RANGE, RANGES
from dashboard.render import page, request_lang, with_query
from dashboard.routepaths import route_path
from dashboard.routes import SessionUser

router = APIRouter(include_in_schema=False)
FormText = Annotated[str, Form()]


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("login").path, status_code=303)


@router.get("/map", name="network_map")
def network_map(request: Request, user: SessionUser, ch: ClickHouse,
                range_key: Annotated[str, Query(alias="range")] = DEFAULT_RANGE, saved: str = "") -> Response:
    if user is None:
        return _login(request)
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    context = map_context(ch, user.tenant_id, range_key, translator(request_lang(request)),
                          lambda device: route_path(request, "asset", device=device))
    range_links = [(key, with_query(request, range=key, saved="")) for key in RANGES]
    return page(request, "netmap.html", user=user, nav="network_map", range_links=range_links, saved=saved == "1",
                **context)


@router.post("/map/zones", name="map_zone_assign")
def assign_zone(request: Request, user: SessionUser, ch: ClickHouse, db: DB,
                devices: Annotated[list[str] | None, Form()] = None, csrf_token: FormText = "", zone: FormText = "",
                purdue_level: FormText = KEEP, range_key: Annotated[str, Form(alias="range")] = DEFAULT_RANGE,
                ) -> Response:
    """The selected devices into ``zone`` (empty: back to their default) and, unless kept, to a level."""
    if user is None:
        return _login(request)
    if not csrf.is_valid(request, csrf_token):
        return page(request, "error.html", status_code=403, message="csrf_failed")
    changes = {"zone": zone} | ({} if purdue_level == KEEP else {"purdue_level": purdue_level or None})
    known = asset_ledger.ledger(ch, user.tenant_id)
    chosen = sorted(set(devices or ()))
    try:
        checked = Annotation.model_validate(changes).model_dump(include=set(changes))
    except ValidationError:
        checked = None
    if checked is None or not chosen or any(device not in known for device in chosen):
        return page(request, "error.html", status_code=400, message="zone_assign_invalid", user=user,
                    back="network_map")
    asset_ledger.amend(ch, user.tenant_id, chosen, user.email, **checked)
    audit_zoning(db, user.email, user.tenant_id, checked, chosen)
    back = range_key if range_key in RANGES else DEFAULT_RANGE
    return RedirectResponse(request.url_for("network_map").path + f"?range={back}&saved=1", status_code=303)
