"""The dashboard's pages: login, logout, overview, the asset ledger, sensors, and its static files
(plotly.js from dashboard.plotlyjs).

The core app mounts ``router`` through the ``mieruka.routers`` entry point; stores and settings
come from the core's dependencies, the tenant from the login session.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from core.access import auth
from core.analytics.assets import MAX_QUERY
from core.analytics.assets import ledger as asset_ledger
from core.analytics.vulnerabilities import for_device as device_vulnerabilities
from core.api.deps import DB, ClickHouse, Now, SettingsDep
from core.store.controlplane import User
from dashboard import alertview, annotation, csrf, plotlyjs
from dashboard.assets import detail_context, list_context
from dashboard.assets_download import page_csv
from dashboard.cookies import set_cookie
from dashboard.i18n import N_, translator
from dashboard.overview import DEFAULT_RANGE, RANGES, overview_context
from dashboard.render import page, request_lang, with_query
from dashboard.sensors import sensors_context
from dashboard.timefmt import absolute, zone_name

router = APIRouter(include_in_schema=False)

_STATIC_DIR = Path(__file__).parent / "static"
STATIC = {
    "style.css": _STATIC_DIR / "style.css",
    "dashboard.js": _STATIC_DIR / "dashboard.js",
    "favicon.svg": _STATIC_DIR / "favicon.svg",
}

FormText = Annotated[str, Form()]


def session_user(request: Request, db: DB) -> User | None:
    return auth.user_for_session(db, request.cookies.get(auth.SESSION_COOKIE))


SessionUser = Annotated[User | None, Depends(session_user)]


@router.get("/static/dashboard/{name}", name="dashboard_static")
def static(request: Request, name: str) -> Response:
    if name == plotlyjs.NAME:  # compressed when the browser takes it; its versioned URL never changes
        content, headers = plotlyjs.body(request.headers.get("accept-encoding", ""))
        return Response(content, media_type=plotlyjs.MEDIA_TYPE, headers=headers)
    if name == "plotly.min.js":  # the unversioned name pages used before
        return RedirectResponse(request.url_for("dashboard_static", name=plotlyjs.NAME).path, status_code=308)
    if name not in STATIC:
        raise HTTPException(404)
    return FileResponse(STATIC[name], headers={"Cache-Control": "public, max-age=3600"})


def _redirect(request: Request, route: str) -> RedirectResponse:
    return RedirectResponse(request.url_for(route).path, status_code=303)


def _csrf_rejected(request: Request) -> HTMLResponse:
    return page(request, "error.html", status_code=403, message="csrf_failed")


async def not_found_page(request: Request, exc: HTTPException) -> Response:
    """404 for the core app (the ``mieruka.not_found`` entry point): a browser asking for a page gets
    the styled page in its language; the API and other clients keep the JSON body."""
    wants_page = "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")
    if not wants_page:
        return JSONResponse({"detail": exc.detail}, status_code=404, headers=getattr(exc, "headers", None))
    with request.app.state.controlplane.sessions() as db:
        user = session_user(request, db)
    return page(request, "error.html", status_code=404, message=N_("page_not_found"), user=user)


def _asset_not_found(request: Request, user: User) -> HTMLResponse:
    return page(request, "error.html", status_code=404, message="asset_not_found", user=user, back="assets")


def _locked(request: Request, email: str, wait: int) -> HTMLResponse:
    """429: logins for ``email`` (from here, or anywhere once paused) are locked for ``wait`` seconds;
    the same answer whether or not the account exists. The retry time is shown to the minute, on the
    clock the account pause reads."""
    retry = auth.utcnow() + timedelta(seconds=wait)
    retry = retry.replace(second=0, microsecond=0) + timedelta(minutes=1 if retry.second or retry.microsecond else 0)
    response = page(request, "login.html", status_code=429, email=email, error="login_locked",
                    minutes=math.ceil(wait / 60), retry_at=f"{absolute(retry, '%H:%M')} {zone_name()}")
    response.headers["Retry-After"] = str(wait)
    return response


@router.get("/login", name="login")
def login_form(request: Request, user: SessionUser) -> Response:
    if user:
        return _redirect(request, "overview")
    return page(request, "login.html", email="", error=None)


@router.post("/login", name="login_submit")
def login(
    request: Request,
    db: DB,
    settings: SettingsDep,
    csrf_token: FormText = "",
    email: FormText = "",
    password: FormText = "",
) -> Response:
    if not csrf.is_valid(request, csrf_token):
        return _csrf_rejected(request)
    source = request.client.host if request.client else ""
    throttle = request.app.state.login_throttle
    if (wait := throttle.admit(source, email)) is not None:
        if throttle.worth_auditing(source, email):  # refused before the password is even checked
            auth.audit_throttled(db, email, source)
        return _locked(request, email, wait)
    # An unknown address is paused as an account failed as often would be, its password not
    # checked either: the answer and its cost tell an outsider nothing (no enumeration).
    pause = auth.ACCOUNT_PAUSE.total_seconds()
    if (wait := throttle.unknown_account_paused(email, pause)) is not None:
        return _locked(request, email, wait)
    attempt = auth.check_password(db, email, password, source)
    if attempt.outcome == "paused":
        return _locked(request, email, auth.pause_left(attempt.user))
    if attempt.user is None and (wait := throttle.unknown_account_failed(email, auth.ACCOUNT_CEILING, pause)):
        return _locked(request, email, wait)
    if attempt.outcome != "ok":
        # One message for unknown user, wrong password or disabled account: no enumeration.
        return page(request, "login.html", email=email, error="login_failed")
    throttle.succeeded(source, email)
    user = attempt.user
    if old := request.cookies.get(auth.SESSION_COOKIE):
        auth.end_session(db, old)  # no session fixation
    lifetime = timedelta(hours=settings.session_hours)
    response = _redirect(request, "overview")
    raw = auth.start_session(db, user, lifetime)
    set_cookie(request, response, auth.SESSION_COOKIE, raw, max_age=int(lifetime.total_seconds()))
    return response


@router.post("/logout", name="logout")
def logout(request: Request, db: DB, csrf_token: FormText = "") -> Response:
    if not csrf.is_valid(request, csrf_token):
        return _csrf_rejected(request)
    if raw := request.cookies.get(auth.SESSION_COOKIE):
        auth.end_session(db, raw)
    response = _redirect(request, "login")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/", name="overview")
def overview(
    request: Request, user: SessionUser, db: DB, ch: ClickHouse,
    range_key: Annotated[str, Query(alias="range")] = DEFAULT_RANGE,
) -> Response:
    if user is None:
        return _redirect(request, "login")
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    t = translator(request_lang(request))
    context = overview_context(ch, db, user.tenant_id, range_key, t)
    range_links = [(key, with_query(request, range=key)) for key in RANGES]
    devices = alertview.keys_by_name((a["device"], (*a["ips"], a["mac"])) for a in context["assets"])
    return page(request, "overview.html", user=user, range_links=range_links,
                alert_summary=alertview.summary(ch, user.tenant_id, t, devices), **context)


@router.get("/sensors", name="sensors")
def sensors(request: Request, user: SessionUser, db: DB, ch: ClickHouse, now: Now) -> Response:
    if user is None:
        return _redirect(request, "login")
    context = sensors_context(db, ch, user.tenant_id, now, translator(request_lang(request)))
    return page(request, "sensors.html", user=user, **context)


@router.get("/assets", name="assets")
def assets(request: Request, user: SessionUser, ch: ClickHouse, q: str = "", role: str = "", sort: str = "ip",
           order: str = "asc", range_key: Annotated[str, Query(alias="range")] = "all") -> Response:
    if user is None:
        return _redirect(request, "login")
    if len(q) > MAX_QUERY:
        return page(request, "error.html", status_code=422, message=N_("search_too_long"), user=user, back="assets")
    context = list_context(ch, user.tenant_id, q.strip(), role, sort, order, translator(request_lang(request)),
                           range_key)
    return page(request, "assets.html", user=user, **context)


@router.get("/assets.csv", name="assets_csv")
def assets_download(request: Request, user: SessionUser, ch: ClickHouse, q: str = "", role: str = "",
                    sort: str = "ip", order: str = "asc",
                    range_key: Annotated[str, Query(alias="range")] = "all",
                    encoding: Literal["excel", "utf8"] = "excel") -> Response:
    """The table as the page shows it; ``excel`` starts with a BOM so Excel reads it as UTF-8."""
    if user is None:
        return _redirect(request, "login")
    if len(q) > MAX_QUERY:
        return page(request, "error.html", status_code=422, message=N_("search_too_long"), user=user, back="assets")
    t = translator(request_lang(request))
    context = list_context(ch, user.tenant_id, q.strip(), role, sort, order, t, range_key)
    return Response(
        page_csv(context, t, encoding),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="assets.csv"', "Cache-Control": "no-store"},
    )


@router.get("/assets/{device}", name="asset")
def asset(request: Request, user: SessionUser, ch: ClickHouse, device: str, saved: str = "") -> Response:
    if user is None:
        return _redirect(request, "login")
    t = translator(request_lang(request))
    context = detail_context(ch, user.tenant_id, device, t)
    if context is None:
        return _asset_not_found(request, user)
    if context["asset"]["device"] != device:  # named by an IP or an upper-case MAC: its own address
        return RedirectResponse(request.url_for("asset", device=context["asset"]["device"]).path, status_code=303)
    return page(request, "asset.html", user=user, saved=saved == "1",
                device_alerts=alertview.device_alerts(ch, user.tenant_id, device, t, context.pop("device_keys")),
                device_vulns=device_vulnerabilities(ch, context["asset"]), **context)


@router.post("/assets/{device}/annotation", name="asset_annotation")
def annotate(
    request: Request,
    user: SessionUser,
    ch: ClickHouse,
    db: DB,
    device: str,
    csrf_token: FormText = "",
    authorized: FormText = "unknown",
    importance: FormText = "",
    tags: FormText = "",
    notes: FormText = "",
    zone: FormText = "",
    purdue_level: FormText = "",
) -> Response:
    if user is None:
        return _redirect(request, "login")
    if not csrf.is_valid(request, csrf_token):
        return _csrf_rejected(request)
    if device not in asset_ledger(ch, user.tenant_id):
        return _asset_not_found(request, user)
    try:
        submitted = annotation.parse(authorized, importance, tags, notes, zone, purdue_level)
    except ValidationError as exc:
        t = translator(request_lang(request))
        context = detail_context(ch, user.tenant_id, device, t)
        context["form"] = {"authorized": authorized, "importance": importance, "tags": tags, "notes": notes,
                           "zone": zone, "purdue_level": purdue_level}
        return page(request, "asset.html", status_code=400, user=user, error=annotation.error_message(exc, t),
                    **context)
    annotation.save(ch, db, user, device, submitted)
    return RedirectResponse(request.url_for("asset", device=device).path + "?saved=1", status_code=303)
