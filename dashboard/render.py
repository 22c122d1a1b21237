"""Rendering a page: the Jinja environment, the request's language, and what every page gets."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from dashboard import csrf, plotlyjs, riskview
from dashboard.cookies import set_cookie
from dashboard.i18n import LANG_COOKIE, LANG_NAMES, LANGS, choose_lang, translator
from dashboard.routepaths import route_path

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
YEAR = 365 * 24 * 3600
# Plotly sets inline styles; everything else comes from this origin.
CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


def human_bytes(n: float) -> str:
    """SI units, as network tools count: 1 kB = 1000 B."""
    units = ("B", "kB", "MB", "GB", "TB")
    i = 0
    while abs(n) >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:,.0f} B" if i == 0 else f"{n:,.1f} {units[i]}"


@pass_context
def path_for(context: dict, route: str, /, **params: str) -> str:
    """Like ``url_for`` but a path, so links stay right behind a TLS-terminating proxy."""
    return route_path(context["request"], route, **params)


def with_query(request: Request, **params: str) -> str:
    """This page's path with some query parameters replaced."""
    return request.url.path + "?" + urlencode({**request.query_params, **params})


@pass_context
def this_page(context: dict, /, **params: str) -> str:
    """``with_query`` for templates, e.g. a sortable column header."""
    return with_query(context["request"], **params)


TEMPLATES.env.filters["num"] = "{:,}".format
TEMPLATES.env.filters["bytes"] = human_bytes
TEMPLATES.env.filters["risk_parts"] = riskview.say
TEMPLATES.env.globals["path_for"] = path_for
TEMPLATES.env.globals["this_page"] = this_page
TEMPLATES.env.globals["plotly_js"] = plotlyjs.NAME  # its versioned file name


def request_lang(request: Request) -> str:
    return choose_lang(
        request.query_params.get("lang"), request.cookies, request.headers.get("accept-language", "")
    )


def page(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """Render ``template`` in the request's language with a CSRF token for its forms."""
    lang = request_lang(request)
    t = translator(lang)
    seed = csrf.seed(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": t,
            "tn": t.tn,
            "csrf_token": csrf.token(request, seed),
            "lang_links": [(code, LANG_NAMES[code], with_query(request, lang=code)) for code in LANGS],
            "user": None,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    csrf.keep_seed(request, response, seed)
    if request.query_params.get("lang") == lang:
        set_cookie(request, response, LANG_COOKIE, lang, max_age=YEAR)
    return response
