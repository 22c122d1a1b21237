"""The dashboard's pages: login, logout, overview, and its static files (plotly.js included).

The core app mounts ``router`` through the ``mieruka.routers`` entry point; stores and settings
come from the core's dependencies, the tenant from the login session.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from core import auth
from core.api.deps import DB, ClickHouse, SettingsDep
from dashboard import csrf
from dashboard.cookies import set_cookie
from dashboard.i18n import translator
from dashboard.overview import DEFAULT_RANGE, RANGES, overview_context
from dashboard.render import page, request_lang, with_query

router = APIRouter(include_in_schema=False)

_STATIC_DIR = Path(__file__).parent / "static"
STATIC = {
    "style.css": _STATIC_DIR / "style.css",
    "dashboard.js": _STATIC_DIR / "dashboard.js",
    "favicon.svg": _STATIC_DIR / "favicon.svg",
    # Served from the installed plotly package: sites are closed networks, no CDN.
    "plotly.min.js": Path(str(resources.files("plotly") / "package_data" / "plotly.min.js")),
}

Token = Annotated[str, Form()]


@router.get("/static/dashboard/{name}", name="dashboard_static")
def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(404)
    return FileResponse(STATIC[name], headers={"Cache-Control": "public, max-age=3600"})


def _redirect(request: Request, route: str) -> RedirectResponse:
    return RedirectResponse(request.url_for(route).path, status_code=303)


def _csrf_rejected(request: Request) -> HTMLResponse:
    return page(request, "error.html", status_code=403, message="csrf_failed")


@router.get("/login", name="login")
def login_form(request: Request, db: DB) -> Response:
    if auth.user_for_session(db, request.cookies.get(auth.SESSION_COOKIE)):
        return _redirect(request, "overview")
    return page(request, "login.html", email="", error=None)


@router.post("/login", name="login_submit")
def login(
    request: Request,
    db: DB,
    settings: SettingsDep,
    csrf_token: Token = "",
    email: Token = "",
    password: Token = "",
) -> Response:
    if not csrf.is_valid(request, csrf_token):
        return _csrf_rejected(request)
    user = auth.authenticate_user(db, email, password)
    if user is None:
        # One message for unknown user, wrong password and lockout: no account enumeration.
        return page(request, "login.html", email=email, error="login_failed")
    if old := request.cookies.get(auth.SESSION_COOKIE):
        auth.end_session(db, old)  # no session fixation
    lifetime = timedelta(hours=settings.session_hours)
    response = _redirect(request, "overview")
    raw = auth.start_session(db, user, lifetime)
    set_cookie(request, response, auth.SESSION_COOKIE, raw, max_age=int(lifetime.total_seconds()))
    return response


@router.post("/logout", name="logout")
def logout(request: Request, db: DB, csrf_token: Token = "") -> Response:
    if not csrf.is_valid(request, csrf_token):
        return _csrf_rejected(request)
    if raw := request.cookies.get(auth.SESSION_COOKIE):
        auth.end_session(db, raw)
    response = _redirect(request, "login")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/", name="overview")
def overview(
    request: Request, db: DB, ch: ClickHouse, range_key: Annotated[str, Query(alias="range")] = DEFAULT_RANGE
) -> Response:
    user = auth.user_for_session(db, request.cookies.get(auth.SESSION_COOKIE))
    if user is None:
        return _redirect(request, "login")
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    context = overview_context(ch, db, user.tenant_id, range_key, translator(request_lang(request)))
    range_links = [(key, with_query(request, range=key)) for key in RANGES]
    return page(request, "overview.html", user=user, range_links=range_links, **context)
