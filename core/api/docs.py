"""The API reference pages, /docs (Swagger UI) and /redoc, served with their scripts from the installed
``fastapi-offline`` package: they work on a closed network (no CDN), like the dashboard's plotly."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(fastapi_offline.__file__).parent / "static"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

router = APIRouter(include_in_schema=False)


def _asset(request: Request, name: str) -> str:
    return request.url_for("docs_asset", name=name).path


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} API",
                               oauth2_redirect_url="/docs/oauth2-redirect",
                               swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
                               swagger_css_url=_asset(request, "swagger-ui.css"),
                               swagger_favicon_url=_asset(request, "favicon.png"))


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} API",
                          redoc_js_url=_asset(request, "redoc.standalone.js"),
                          redoc_favicon_url=_asset(request, "favicon.png"), with_google_fonts=False)


@router.get("/static/docs/{name}", name="docs_asset")
def asset(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404)
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
