"""A named route's path, as ``request.url_for(name, **params).path`` gives it, without starlette's
search of every route for each link: the router tries its routes in turn and each one that is not
``name`` raises an exception (half a millisecond a link; a ledger page links 300 devices). The route
that built a name's path the first time builds it from then on."""

from __future__ import annotations

from weakref import ref

from starlette.requests import Request
from starlette.routing import BaseRoute, NoMatchFound

# id(router) → (a weak reference to it, {(route name, path parameter names): the first of its routes that
# builds that path}); by id since FastAPI's routers compare by value and are not hashable.
_BUILDERS: dict[int, tuple[ref, dict[tuple[str, frozenset[str]], BaseRoute]]] = {}


def route_path(request: Request, name: str, /, **params: object) -> str:
    """The path of route ``name`` with ``params`` (behind the app's root path), as ``url_for``'s."""
    router = request.scope.get("router")
    if router is None:  # not routed by a router: as url_for does it
        return request.url_for(name, **params).path
    held = _BUILDERS.get(id(router))
    if held is None or held[0]() is not router:  # new, or another router that took a gone one's id
        held = _BUILDERS[id(router)] = (ref(router), {})
    builders = held[1]
    key = (name, frozenset(params))
    builder = builders.get(key)
    if builder is None:
        builder = builders[key] = _first_builder(router.routes, name, params)
    return builder.url_path_for(name, **params).make_absolute_url(base_url=request.base_url).path


def _first_builder(routes: list[BaseRoute], name: str, params: dict) -> BaseRoute:
    """The route the router's own ``url_path_for`` would take: the first that does not refuse."""
    for route in routes:
        try:
            route.url_path_for(name, **params)
        except NoMatchFound:
            continue
        return route
    raise NoMatchFound(name, params)
