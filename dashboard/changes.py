"""The changes page (変化・差分): what changed from period A to period B — devices added and removed,
attributes changed, communication pairs added and removed, functions newly used — with the two
periods picked as "the previous span against the last" (1 h, 24 h, 7 d up to the newest data) or
typed in the site's time zone, an "exclude volatile fields" switch, and the CSV of what is shown.
Mounted through the ``mieruka.routers`` entry point."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.analytics import changes as diff
from core.analytics.window import clamp, resolve_window
from core.api.deps import ClickHouse
from core.store.clickhouse import ClickHouseStore
from dashboard.assets import _role_label as role_label
from dashboard.i18n import N_, translator
from dashboard.overview import RANGES
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser
from dashboard.timefmt import DISPLAY_TZ, SECONDS, absolute, local, zone_name

router = APIRouter(include_in_schema=False)
DEFAULT_RANGE = "7d"
BOUNDS = ("a_start", "a_end", "b_start", "b_end")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, in the site's zone
# Messages the template names by key: "attr_" + a compared field, "changes_range_" + a range,
# sections and columns.
LABELS = (N_("attr_vendor"), N_("attr_model"), N_("attr_firmware"), N_("attr_hostname"), N_("attr_os"),
          N_("attr_serial"), N_("attr_role"), N_("attr_ips"), N_("attr_vlans"), N_("changes_range_1h"),
          N_("changes_range_24h"), N_("changes_range_7d"))
HEADINGS = (N_("devices_added"), N_("devices_removed"), N_("attributes_changed"), N_("pairs_added"),
            N_("pairs_removed"), N_("functions_added"), N_("old_value"), N_("new_value"), N_("client"),
            N_("server"), N_("function"), N_("uses"),
            N_("nav_changes"))  # and base.html's navigation: "nav_" ~ route
INVERTED = N_("changes_inverted")


def _typed(text: str) -> datetime | None:
    """A bound typed in the form (site time), UTC; None when empty or not a time."""
    try:
        return clamp(datetime.strptime(text.strip(), INPUT_FORMAT).replace(tzinfo=DISPLAY_TZ))
    except ValueError:
        return None


def periods(ch: ClickHouseStore, tenant: int, range_key: str, typed: dict[str, str]) -> dict[str, datetime]:
    """A and B: the previous span against the last one up to the newest data; a typed bound wins."""
    span = RANGES[range_key]
    latest = resolve_window(ch, tenant).end
    found = {"a_start": latest - 2 * span, "a_end": latest - span, "b_start": latest - span, "b_end": latest}
    return found | {k: t for k in BOUNDS if (t := _typed(typed.get(k, "")))}


def _query(range_key: str, bounds: dict[str, datetime], stable: bool) -> str:
    return urlencode({"range": range_key, **{k: local(v).strftime(INPUT_FORMAT) for k, v in bounds.items()},
                      **({"stable": "1"} if stable else {})})


def context(ch: ClickHouseStore, tenant: int, range_key: str, bounds: dict[str, datetime], stable: bool,
            t) -> dict:
    found = dict(diff.changes(ch, tenant, (bounds["a_start"], bounds["a_end"]),
                              (bounds["b_start"], bounds["b_end"]), volatile=not stable))  # a kept answer: a copy
    for name in ("devices_added", "devices_removed"):
        found[name] = [d | {"role_label": role_label(d["role"], t), "first_seen": absolute(d["first_seen"]),
                            "last_seen": absolute(d["last_seen"])} for d in found[name]]
    for name in ("pairs_added", "pairs_removed", "functions_added"):
        found[name] = [r | {"first_seen": absolute(r["first_seen"]), "last_seen": absolute(r["last_seen"])}
                       for r in found[name]]
    return {
        "changes": found,
        "range": range_key,
        "stable": stable,
        "inputs": {k: local(v).strftime(INPUT_FORMAT) for k, v in bounds.items()},
        "shown": {k: absolute(v, SECONDS) for k, v in bounds.items()},
        "range_links": [(key, "?" + urlencode({"range": key, **({"stable": "1"} if stable else {})}))
                        for key in RANGES],
        "csv_query": _query(range_key, bounds, stable),
        "tz_name": zone_name(),
    }


def _request(request: Request, ch: ClickHouseStore, tenant: int) -> tuple[str, dict[str, datetime], bool]:
    q = request.query_params
    range_key = q.get("range", DEFAULT_RANGE)
    range_key = range_key if range_key in RANGES else DEFAULT_RANGE
    return range_key, periods(ch, tenant, range_key, dict(q)), q.get("stable") == "1"


def _inverted(bounds: dict[str, datetime]) -> bool:
    return bounds["a_start"] >= bounds["a_end"] or bounds["b_start"] >= bounds["b_end"]


@router.get("/changes", name="changes")
def changes_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    range_key, bounds, stable = _request(request, ch, user.tenant_id)
    if _inverted(bounds):
        return page(request, "error.html", status_code=422, message=INVERTED, user=user,
                    back="changes")
    t = translator(request_lang(request))
    return page(request, "changes.html", user=user, nav="changes",
                **context(ch, user.tenant_id, range_key, bounds, stable, t))


@router.get("/changes.csv", name="changes_csv")
def changes_download(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    _, bounds, stable = _request(request, ch, user.tenant_id)
    if _inverted(bounds):
        return Response("a period's start must be before its end\n", status_code=422, media_type="text/plain")
    found = diff.changes(ch, user.tenant_id, (bounds["a_start"], bounds["a_end"]),
                         (bounds["b_start"], bounds["b_end"]), volatile=not stable)
    return Response(diff.changes_csv(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="changes.csv"',
                             "Cache-Control": "no-store"})
