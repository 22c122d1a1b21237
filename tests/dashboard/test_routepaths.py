"""route_path gives what url_for gives, for every named route of the real app, under a root path too."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.routing import NoMatchFound

from core.api.app import create_app
from core.config import Settings
from dashboard.routepaths import route_path

VALUES = {"device": "00:1b:1b:0a:0b:0c", "alert_id": "a-1", "name": "dashboard.js"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("routepaths")))


def _request(app, root_path: str = "") -> Request:
    return Request({"type": "http", "app": app, "router": app.router, "root_path": root_path, "path": root_path + "/",
                    "headers": [], "query_string": b"", "server": ("127.0.0.1", 80), "scheme": "http",
                    "method": "GET"})


def _named_routes(app) -> list[tuple[str, dict]]:
    """(name, sample path parameters) of every route of the app, included routers' too."""
    found = []
    for route in iter_route_contexts(app.routes):
        name, path = getattr(route, "name", None), getattr(route, "path", "")
        if name:
            params = {p: VALUES.get(p, f"{p}-7") for p in re.findall(r"{(\w+)(?::\w+)?}", path)}
            found.append((name, params))
    return found


@pytest.mark.parametrize("root_path", ["", "/mieruka"])
def test_every_named_route_has_url_fors_path(app, root_path):
    request = _request(app, root_path)
    routes = _named_routes(app)
    assert len(routes) > 30 and any(name == "asset" for name, _ in routes)
    for name, params in routes:
        for _ in range(2):  # the second time from the remembered route
            assert route_path(request, name, **params) == request.url_for(name, **params).path, name


def test_each_device_gets_its_own_path(app):
    request = _request(app)
    paths = {route_path(request, "asset", device=d) for d in ("10.0.0.1", "10.0.0.2", "00:1b:1b:0a:0b:0c")}
    assert paths == {"/assets/10.0.0.1", "/assets/10.0.0.2", "/assets/00:1b:1b:0a:0b:0c"}


def test_unknown_names_and_parameters_are_refused_as_url_for_refuses_them(app):
    request = _request(app)
    for name, params in (("no_such_page", {}), ("asset", {}), ("asset", {"device": "x", "extra": "y"})):
        with pytest.raises(NoMatchFound):
            request.url_for(name, **params)
        with pytest.raises(NoMatchFound):
            route_path(request, name, **params)
