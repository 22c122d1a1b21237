"""Tenant isolation on every route, the route list taken from the app itself.

Each route is classified by the authentication dependency it has: ``sensor_auth`` or ``uploading_sensor`` (sensor token),
``principal`` (user: API token or session cookie), the dashboard's ``session_user`` (page), or else
it must be listed in PUBLIC. A route that is none of these fails the suite, so a new route cannot
escape the checks: every user and page GET route must refuse anonymous callers and sensors, return
nothing of another tenant (whatever tenant id the client names) and answer 404/403 to another
tenant's ids in its path; every API write naming an object in its path answers 404 to an admin of
another tenant.
"""

from __future__ import annotations

import re

import pytest
from coretest import OSECT_EXAMPLE, PASSWORD, SCC_EXAMPLE, T0, bearer, flow, make_batch, post_batch, provision
from coretest import add_user, store_contract
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from core.access import accounts, auth
from core.api import deps
from core.api.app import create_app
from core.config import Settings
from core.detect import store as alerts
from core.store.controlplane import ApiToken, Tenant, User
from dashboard.routes import session_user
from dashboard.stats import data_team_session
from sensor import wire

# Routes anyone may call: health, metrics (gated by its own token or loopback check), activation
# (the one-time code is the credential), login/logout, static files, the OpenAPI documents.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/api/v1/activate"),
    ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/static/dashboard/{name}"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
    ("GET", "/static/docs/{name}"), ("GET", "/livez"), ("GET", "/readyz"),
}
KINDS = ((deps.sensor_auth, "sensor"), (deps.uploading_sensor, "sensor"), (deps.principal, "user"), (session_user, "page"))
ROLES = ("analyst", "admin", "billing", "datateam")
QUERY_VALUES = {"month": "2026-12", "purpose": "route isolation test"}  # a value for each required query parameter


def _calls(dependant) -> set:
    return {sub.call for sub in dependant.dependencies} | {
        c for sub in dependant.dependencies for c in _calls(sub)}


def _required_query(dependant) -> set[str]:
    own = {p.name for p in dependant.query_params if p.field_info.is_required()}
    return own.union(*(_required_query(sub) for sub in dependant.dependencies))


def route_table(app) -> list[tuple[str, str, str | None, set[str]]]:
    """(method, path, kind, required query parameters) of every route; kind None: unclassified."""
    table = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        calls = _calls(dependant) if dependant else set()
        for method in sorted((route.methods or set()) - {"HEAD"}):
            kind = "public" if (method, route.path) in PUBLIC else next(
                (name for call, name in KINDS if call in calls), None)
            table.append((method, route.path, kind, _required_query(dependant) if dependant else set()))
    return table


def unclassified(app) -> list[tuple[str, str]]:
    return [(method, path) for method, path, kind, _ in route_table(app) if kind is None]


ROUTES = route_table(create_app(Settings()))  # built, not started: routes need no stores
READS = [(path, kind, query) for method, path, kind, query in ROUTES if method == "GET" and kind in ("user", "page")]
# API writes that name an object in their path, tried on the other tenant's objects.
WRITES = [(method, path) for method, path, kind, _ in ROUTES
          if method != "GET" and kind == "user" and re.search(r"{\w+}", path)]
# A valid body for each such write that takes one (a 422 would hide the tenant check behind it).
BODIES = {"/api/v1/assets/{device}/annotation": {}, "/api/v1/users/{user_id}/role": {"role": "analyst"},
          "/api/v1/users/{user_id}/password": {"password": "Vermilion kettle drums at 4am"},
          "/api/v1/alerts/{alert_id}": {"status": "acknowledged"}}
SENSOR_ROUTES = [(method, path) for method, path, kind, _ in ROUTES if kind == "sensor"]
# Routes across every tenant by design (the data team's statistics): the provider's data team only.
DATA_TEAM_CALLS = {deps.data_team, data_team_session}
DATA_TEAM_ROUTES = {route.path for route in iter_route_contexts(create_app(Settings()).routes)
                    if getattr(route, "dependant", None) and _calls(route.dependant) & DATA_TEAM_CALLS}


def test_every_route_is_classified():
    assert unclassified(create_app(Settings())) == []
    assert len(READS) >= 15 and len(SENSOR_ROUTES) >= 4


def test_a_new_route_without_authentication_fails_the_check():
    app = create_app(Settings())

    @app.get("/api/v1/leak")
    def leak() -> dict:
        return {}

    @app.get("/api/v1/mine")
    def mine(who: deps.Principal) -> dict:
        return {}

    assert unclassified(app) == [("GET", "/api/v1/leak")]
    assert ("GET", "/api/v1/mine", "user", set()) in route_table(app)  # and so checked like the others


@pytest.fixture(scope="module")
def world(client):
    """acme and globex, each with traffic, a contract, and an analyst, an admin and a billing user
    holding an API token and a login session; the ids their paths take."""
    world = {}
    globex_flow = flow(orig_h="10.2.0.1", resp_h="10.2.0.2", service="s7comm", resp_l2_addr="00:0e:8c:00:00:09")
    globex_obs = [dict(ts=T0, mac="00:0e:8c:00:00:09", ip="10.2.0.2", attribute="vendor", value="GlobexCorp",
                       source="oui", confidence=90)]
    for name, batch, contract in (("acme", make_batch(), OSECT_EXAMPLE),
                                  ("globex", make_batch([globex_flow], [], globex_obs), SCC_EXAMPLE)):
        tenant = provision(client.app, name)
        with client.app.state.controlplane.session() as db:  # no learning: the batch raises alerts
            db.get(Tenant, tenant.id).learning_hours = 0
        assert post_batch(client, tenant.sensor_token, wire.encode(batch)).status_code == 200
        contract_id = store_contract(client.app, name, contract)
        creds = {}
        with client.app.state.controlplane.sessions() as db:
            owner = accounts.tenant_named(db, name)
            for role in ROLES:
                email = f"{role}@{name}.example"
                if role == "analyst":
                    token = tenant.api_token
                else:
                    token = accounts.create_api_token(db, accounts.create_user(db, owner, email, PASSWORD, role),
                                                      "tests")[1]
                user = db.scalar(select(User).where(User.email == email))
                creds[role] = (bearer(token), {"Cookie": f"{auth.SESSION_COOKIE}={auth.start_session(db, user)}"})
            analyst = db.scalar(select(User).where(User.email == f"analyst@{name}.example"))
            token_id = db.scalar(select(ApiToken.id).where(ApiToken.user_id == analyst.id))
        ids = {"device": batch.tables["observations"]["mac"][0].as_py(), "contract": contract_id, "user_id": analyst.id, "token_id": token_id,
               "alert_id": alerts.list_alerts(client.app.state.clickhouse, tenant.id, kind=["new_device"])[0]["id"]}
        world[name] = {"tenant": tenant, "creds": creds, "ids": ids}
    world["provider"] = _provider_data_team(client)
    return world


def url(path: str, ids: dict) -> str:
    names = re.findall(r"{(\w+)}", path)
    unknown = [n for n in names if n not in ids]
    assert not unknown, f"{path}: give the test an id of each tenant for {unknown}"
    return path.format(**{n: ids[n] for n in names})


def refused(response, kind: str) -> bool:
    """Refused a caller without a user: 401 for the API, a redirect to the login page for pages."""
    if kind == "user":
        return response.status_code == 401
    return response.status_code in (303, 307) and response.headers["location"].endswith("/login")


@pytest.mark.parametrize("path, kind, query", READS, ids=[r[0] for r in READS])
def test_every_read_needs_a_user(client, world, path, kind, query):
    acme = world["acme"]
    target = url(path, acme["ids"])
    params = {q: QUERY_VALUES[q] for q in query}
    for headers in ({}, bearer(acme["tenant"].sensor_token), {"Cookie": f"{auth.SESSION_COOKIE}=forged"}):
        r = client.get(target, params=params, headers=headers, follow_redirects=False)
        assert refused(r, kind), (headers, r.status_code, r.text[:200])


@pytest.mark.parametrize("path, kind, query", READS, ids=[r[0] for r in READS])
def test_every_read_returns_only_the_callers_data(client, world, path, kind, query):
    if path in DATA_TEAM_ROUTES:
        return _data_team_only(client, world, path, kind, query)
    for me, other in (("acme", "globex"), ("globex", "acme")):
        mine, theirs = world[me], world[other]
        params = {q: QUERY_VALUES[q] for q in query} | {"tenant_id": theirs["tenant"].id, "tenant": theirs["tenant"].id}
        for role in ROLES:  # the first role this route serves
            headers = mine["creds"][role][0 if kind == "user" else 1]
            r = client.get(url(path, mine["ids"]), params=params, headers=headers, follow_redirects=False)
            if r.status_code == 200:
                break
        else:
            pytest.fail(f"{path}: no role of {me} reads it ({r.status_code} {r.text[:200]})")
        body = r.text.lower()
        for marker in (other, "10.2.0." if other == "globex" else "10.0.0."):
            assert marker not in body, (me, role, marker)
        if re.search(r"{\w+}", path):  # the other tenant's ids are not found (or forbidden)
            r = client.get(url(path, theirs["ids"]), params=params, headers=headers, follow_redirects=False)
            assert r.status_code in (403, 404), (me, role, r.status_code, r.text[:200])


def _provider_data_team(client) -> tuple[dict, dict]:
    """An API token's and a login session's headers of the provider's data team."""
    token = add_user(client.app, "provider", "data@provider.example", "datateam")
    with client.app.state.controlplane.sessions() as db:
        user = db.scalar(select(User).where(User.email == "data@provider.example"))
        return bearer(token), {"Cookie": f"{auth.SESSION_COOKIE}={auth.start_session(db, user)}"}


def _data_team_only(client, world, path, kind, query):
    """Every role of a customer tenant, its datateam users included, is refused; the provider's data
    team reads it, and nothing in it names a tenant or its addresses."""
    params = {q: QUERY_VALUES[q] for q in query}
    for name in ("acme", "globex"):
        for role in ROLES:
            headers = world[name]["creds"][role][0 if kind == "user" else 1]
            r = client.get(path, params=params, headers=headers, follow_redirects=False)
            assert r.status_code == 403, (name, role, r.status_code)
    r = client.get(path, params=params, headers=world["provider"][0 if kind == "user" else 1], follow_redirects=False)
    assert r.status_code == 200, r.text[:200]
    for marker in ("acme", "globex", "10.0.0.", "10.2.0."):
        assert marker not in r.text.lower(), marker


@pytest.mark.parametrize("method, path", SENSOR_ROUTES)
def test_sensor_routes_need_a_sensor_token(client, world, method, path):
    acme = world["acme"]
    for headers in ({}, acme["creds"]["admin"][0], acme["creds"]["admin"][1]):
        r = client.request(method, url(path, acme["ids"]), headers=headers)
        assert r.status_code == 401, (headers, r.text)


@pytest.mark.parametrize("method, path", WRITES)
def test_writes_cannot_reach_the_other_tenants_objects(client, world, method, path):
    """An admin's API token (allowed every write) aimed at the other tenant's ids: 404, nothing changed."""
    for me, other in (("acme", "globex"), ("globex", "acme")):
        r = client.request(method, url(path, world[other]["ids"]), json=BODIES.get(path),
                           headers=world[me]["creds"]["admin"][0])
        assert r.status_code == 404, (me, r.status_code, r.text[:200])
        their_analyst = world[other]["creds"]["analyst"][0]  # neither disabled nor revoked
        assert client.get("/api/v1/sensors", headers=their_analyst).status_code == 200
