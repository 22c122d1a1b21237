"""The API reference renders in a browser that can reach nothing but the core: Swagger UI lists the
API's operations and ReDoc its sections, with no request leaving 127.0.0.1 and no script error."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from browsertest import collect_errors
from coretest import LiveServer
from storetemplate import migrated
from browsershot import shoot

from core.api.app import create_app
from core.config import Settings


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("docs"))))) as live:
        yield live


def closed_network(page) -> list[str]:
    """Block every request not to 127.0.0.1; the URLs blocked."""
    blocked: list[str] = []

    def route(r):
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    return blocked


def test_swagger_ui_and_redoc_render_offline(core, page, screenshots):
    blocked, errors = closed_network(page), collect_errors(page)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{core.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 20  # one per operation
    assert page.locator(".opblock-summary-path:has-text('/api/v1/alerts')").count() >= 1
    shoot(page, screenshots / "docs-swagger.png")
    page.goto(f"{core.url}/redoc")
    page.wait_for_selector("[role=menuitem], .menu-content", timeout=30_000)
    assert page.get_by_text("/api/v1/ingest").count() >= 1
    shoot(page, screenshots / "docs-redoc.png")
    # ReDoc's "API docs by Redocly" footer links its logo from its CDN: the CSP refuses it, as it must
    errors = [e for e in errors if "https://cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert blocked == [] and errors == [], (blocked, errors)
