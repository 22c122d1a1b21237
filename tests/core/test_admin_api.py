"""The admin role administers its own tenant through the API: users, API tokens, audit log.
Other roles get 403; another tenant's users and tokens are as unknown as missing ones (404)."""

from __future__ import annotations

import pytest
from coretest import PASSWORD, add_user, authenticated, bearer, provision


@pytest.fixture(scope="module")
def org(client):
    """acme (an admin, an analyst with a token) and globex (an admin, an analyst)."""
    acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
    return {
        "acme": acme,
        "globex": globex,
        "admin": add_user(client.app, "acme", "boss@acme.example", "admin"),
        "globex_admin": add_user(client.app, "globex", "boss@globex.example", "admin"),
    }


def _id(client, token, email):
    return next(u["id"] for u in client.get("/api/v1/users", headers=bearer(token)).json() if u["email"] == email)


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/users"), ("GET", "/api/v1/tokens"),
                                              ("GET", "/api/v1/audit"), ("POST", "/api/v1/users/1/unlock"),
                                              ("DELETE", "/api/v1/tokens/1")])
def test_other_roles_get_403(client, org, method, path):
    r = client.request(method, path, headers=bearer(org["acme"].api_token))
    assert r.status_code == 403 and r.json()["detail"] == "admins only"


def test_admin_sees_and_manages_only_their_tenant(client, org):
    admin = bearer(org["admin"])
    users = client.get("/api/v1/users", headers=admin).json()
    assert {u["email"] for u in users} == {"analyst@acme.example", "boss@acme.example"}
    assert all(u["state"] == "active" for u in users)
    globex_analyst = _id(client, org["globex_admin"], "analyst@globex.example")
    for method, path, body in [("POST", f"/api/v1/users/{globex_analyst}/disable", None),
                               ("PUT", f"/api/v1/users/{globex_analyst}/role", {"role": "admin"}),
                               ("PUT", f"/api/v1/users/{globex_analyst}/password", {"password": "tram depot lantern 42"})]:
        r = client.request(method, path, headers=admin, json=body)
        assert r.status_code == 404, (path, r.text)
    assert client.get("/api/v1/sensors", headers=bearer(org["globex"].api_token)).status_code == 200


def test_create_user_applies_the_password_policy(client, org):
    admin = bearer(org["admin"])
    r = client.post("/api/v1/users", headers=admin, json={"email": "cy@acme.example", "password": "password"})
    assert r.status_code == 422 and r.json()["detail"].startswith("password is too easy to guess")
    r = client.post("/api/v1/users", headers=admin,
                    json={"email": "cy@acme.example", "password": "tram depot lantern 42", "role": "billing"})
    assert r.status_code == 201 and r.json()["role"] == "billing" and r.json()["state"] == "active"
    r = client.post("/api/v1/users", headers=admin, json={"email": "cy@acme.example", "password": PASSWORD})
    assert r.status_code == 422 and "already exists" in r.json()["detail"]
    r = client.post("/api/v1/users", headers=admin, json={"email": "dee@acme.example", "password": PASSWORD,
                                                          "role": "root"})
    assert r.status_code == 422


def test_disable_stops_the_users_tokens_and_enable_restores_them(client, org):
    admin, analyst = bearer(org["admin"]), bearer(org["acme"].api_token)
    uid = _id(client, org["admin"], "analyst@acme.example")
    r = client.post(f"/api/v1/users/{uid}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "disabled"
    assert client.get("/api/v1/sensors", headers=analyst).status_code == 401
    assert client.post(f"/api/v1/users/{uid}/enable", headers=admin).json()["state"] == "active"
    assert client.get("/api/v1/sensors", headers=analyst).status_code == 200


def test_admin_cannot_disable_or_demote_themselves(client, org):
    admin = bearer(org["admin"])
    me = _id(client, org["admin"], "boss@acme.example")
    assert client.post(f"/api/v1/users/{me}/disable", headers=admin).status_code == 409
    assert client.put(f"/api/v1/users/{me}/role", headers=admin, json={"role": "analyst"}).status_code == 409


def test_role_change_password_reset_and_unlock(client, org):
    admin = bearer(org["admin"])
    uid = _id(client, org["admin"], "analyst@acme.example")
    r = client.put(f"/api/v1/users/{uid}/role", headers=admin, json={"role": "billing"})
    assert r.status_code == 200 and r.json()["role"] == "billing"
    client.put(f"/api/v1/users/{uid}/role", headers=admin, json={"role": "analyst"})
    r = client.put(f"/api/v1/users/{uid}/password", headers=admin, json={"password": "aaaaaaaa"})
    assert r.status_code == 422 and r.json()["detail"].startswith("password")
    assert client.put(f"/api/v1/users/{uid}/password", headers=admin, json={"password": PASSWORD}).status_code == 200
    assert client.post(f"/api/v1/users/{uid}/unlock", headers=admin).json()["failed_logins"] == 0


def test_writes_need_an_api_token(client, org):
    """A session cookie alone cannot change accounts (the dashboard has CSRF-checked forms)."""
    from core.access import auth
    with client.app.state.controlplane.sessions() as db:
        session = auth.start_session(db, authenticated(db, "boss@acme.example", PASSWORD))
    client.cookies.set(auth.SESSION_COOKIE, session)
    try:
        assert client.get("/api/v1/users").status_code == 200
        r = client.post("/api/v1/users/1/unlock")
        assert r.status_code == 403 and "API token" in r.json()["detail"]
    finally:
        client.cookies.clear()


def test_tokens_with_expiry_and_revocation(client, org):
    admin = bearer(org["admin"])
    r = client.post("/api/v1/tokens", headers=admin, json={"name": "grafana", "expires_days": 30})
    assert r.status_code == 201
    issued = r.json()
    assert issued["user"] == "boss@acme.example" and issued["state"] == "live" and issued["expires_at"]
    assert client.get("/api/v1/sensors", headers=bearer(issued["token"])).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert "token" not in listed[0] and {t["user"] for t in listed} == {"boss@acme.example", "analyst@acme.example"}
    globex_token = client.get("/api/v1/tokens", headers=bearer(org["globex_admin"])).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{globex_token}", headers=admin).status_code == 404
    assert client.post("/api/v1/tokens", headers=admin, json={"user_id": 10**6}).status_code == 404
    assert client.post("/api/v1/tokens", headers=admin, json={"expires_days": 0}).status_code == 422
    r = client.delete(f"/api/v1/tokens/{issued['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    r = client.get("/api/v1/sensors", headers=bearer(issued["token"]))
    assert r.status_code == 401


def test_audit_log_is_the_tenants_own_newest_first(client, org):
    admin = bearer(org["admin"])
    client.post(f"/api/v1/users/{_id(client, org['admin'], 'analyst@acme.example')}/unlock", headers=admin)
    rows = client.get("/api/v1/audit", headers=admin).json()
    assert rows[0]["action"] == "user.unlock" and rows[0]["actor"] == "boss@acme.example"
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert not any("globex" in r["detail"] for r in rows)
    only = client.get("/api/v1/audit", headers=admin, params={"action": "user.", "limit": 2}).json()
    assert len(only) == 2 and all(r["action"].startswith("user.") for r in only)
    older = client.get("/api/v1/audit", headers=admin, params={"before_id": only[-1]["id"]}).json()
    assert older and older[0]["id"] < only[-1]["id"]
    assert client.get("/api/v1/audit", headers=admin, params={"limit": 0}).status_code == 422


def test_revoked_sensor_gets_401_until_a_new_code_brings_the_box_back(client, org):
    """`mieruka sensors revoke` / `sensors code`: 401 makes the sensor keep its batches queued."""
    from datetime import timedelta

    from coretest import make_batch, post_batch

    from core.access import accounts
    from core.fleet import activation
    from sensor import wire

    acme = org["acme"]
    body = wire.encode(make_batch())
    with client.app.state.controlplane.sessions() as db:
        sensor = accounts.sensor_with_serial(db, accounts.tenant_named(db, "acme"), "SN-acme")
        accounts.revoke_sensor(db, sensor)
    assert post_batch(client, acme.sensor_token, body).status_code == 401
    with client.app.state.controlplane.sessions() as db:
        code, _ = activation.issue_code(db, sensor, "SN-acme", timedelta(days=1))
    r = client.post("/api/v1/activate", json={"code": code})
    assert r.status_code == 200, r.text
    assert post_batch(client, r.json()["token"], body).status_code == 200
    assert post_batch(client, acme.sensor_token, body).status_code == 401  # the old token stays dead


@pytest.mark.parametrize("path", ["/api/v1/users/2286719327671138910208/enable", "/api/v1/users/0/unlock",
                                  "/api/v1/tokens/99999999999999999999"])
def test_out_of_range_ids_are_422_not_500(client, org, path):
    method = "DELETE" if "tokens" in path else "POST"
    assert client.request(method, path, headers=bearer(org["admin"])).status_code == 422
