"""Admin pages: users, API tokens and the audit log of the admin's own tenant; CSRF on every form;
other roles get 403 and no links; another tenant's users and tokens are unknown (404)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from coretest import add_user, bearer, post_batch, provision
from pagetest import csrf_token, plant_batch

from core.access import accounts, auditlog
from dashboard.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]
BOSS = SimpleNamespace(email="boss@acme.example")


@pytest.fixture
def org(client):
    acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
    add_user(client.app, "acme", BOSS.email, "admin")
    return acme, globex


def _user_id(client, email: str) -> int:
    with client.app.state.controlplane.sessions() as db:
        return accounts.user_with_email(db, email).id


def _post(client, path: str, **data):
    token = csrf_token(client.get("/admin/users").text)
    return client.post(path, data={"csrf_token": token, **data})


def test_other_roles_get_403_and_no_admin_links(client, org, login):
    acme, _ = org
    assert login(acme).status_code == 303
    assert "/admin/users" not in client.get("/").text
    for path in ("/admin/users", "/admin/tokens", "/admin/audit"):
        r = client.get(path)
        assert r.status_code == 403 and JA["admin_only"] in r.text


def test_logged_out_is_sent_to_login(client, org):
    assert client.get("/admin/users").headers["location"] == "/login"


def test_admin_sees_links_and_only_their_tenants_users(client, org, login):
    login(BOSS)
    home = client.get("/?lang=en").text
    assert f'href="/admin/users">{EN["nav_admin"]}</a>' in home  # one menu item; the pages are its tabs
    tabs = client.get("/admin/audit?lang=en").text
    assert all(f'href="/admin/{p}" data-tab="admin_{p}"' in tabs for p in ("users", "tokens", "audit", "export"))
    page = client.get("/admin/users").text
    assert re.findall(r'data-user="([^"]+)"', page) == ["analyst@acme.example", BOSS.email]


def test_disable_needs_csrf_and_ends_the_users_session(client, org, login):
    acme, _ = org
    analyst = _user_id(client, acme.email)
    login(BOSS)
    r = client.post(f"/admin/users/{analyst}/disable", data={"csrf_token": "0" * 64})
    assert r.status_code == 403 and JA["csrf_failed"] in r.text
    r = _post(client, f"/admin/users/{analyst}/disable")
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=user_disabled"
    page = client.get(r.headers["location"]).text
    assert JA["done_user_disabled"] in page and JA["state_disabled"] in page
    assert client.get("/api/v1/sensors", headers=bearer(acme.api_token)).status_code == 401
    assert _post(client, f"/admin/users/{analyst}/enable").status_code == 303
    assert client.get("/api/v1/sensors", headers=bearer(acme.api_token)).status_code == 200


def test_another_tenants_user_is_not_found(client, org, login):
    _, globex = org
    victim = _user_id(client, globex.email)
    login(BOSS)
    for path, data in [(f"/admin/users/{victim}/disable", {}), (f"/admin/users/{victim}/unlock", {}),
                       (f"/admin/users/{victim}/role", {"role": "admin"}),
                       (f"/admin/users/{victim}/password", {"password": "tram depot lantern 42"})]:
        r = _post(client, path, **data)
        assert r.status_code == 404 and JA["admin_not_found"] in r.text, path
    with client.app.state.controlplane.sessions() as db:
        user = accounts.user_with_email(db, globex.email)
        assert user.disabled_at is None and user.role == "analyst"
    assert client.get("/api/v1/sensors", headers=bearer(globex.api_token)).status_code == 200


def test_globex_token_cannot_be_revoked_from_acme(client, org, login):
    _, globex = org
    with client.app.state.controlplane.sessions() as db:
        globex_token = accounts.api_tokens(db, globex.id)[0].id
    login(BOSS)
    r = _post(client, f"/admin/tokens/{globex_token}/revoke")
    assert r.status_code == 404
    assert client.get("/api/v1/sensors", headers=bearer(globex.api_token)).status_code == 200


def test_add_user_applies_the_password_policy(client, org, login):
    login(BOSS)
    r = _post(client, "/admin/users", email="cy@acme.example", role="billing", password="password")
    assert r.status_code == 422 and JA["password_guessable"] in r.text  # in the page's language
    r = _post(client, "/admin/users?lang=en", email="cy@acme.example", role="billing", password="short")
    assert r.status_code == 422 and EN["password_too_short"].format(min=8) in r.text
    assert 'value="cy@acme.example"' in r.text  # the form keeps what was typed, not the password
    r = _post(client, "/admin/users", email="cy@acme.example", role="billing", password="tram depot lantern 42")
    assert r.status_code == 303
    assert "cy@acme.example" in client.get("/admin/users").text


def test_issue_shows_the_token_once_and_revoke_stops_it(client, org, login):
    login(BOSS)
    token = csrf_token(client.get("/admin/tokens").text)
    r = client.post("/admin/tokens", data={"csrf_token": token, "name": "grafana", "expires_days": "30",
                                           "user_id": str(_user_id(client, BOSS.email))})
    assert r.status_code == 201
    raw = re.search(r'<code class="mono secret">([^<]+)</code>', r.text).group(1)
    assert client.get("/api/v1/sensors", headers=bearer(raw)).status_code == 200
    listed = client.get("/admin/tokens").text
    assert raw not in listed and "grafana" in listed
    new_id = re.findall(r'data-token="(\d+)"', listed)[0]
    r = client.post("/admin/tokens", data={"csrf_token": token, "expires_days": "-1"})
    assert r.status_code == 422 and JA["admin_bad_days"] in r.text
    r = _post(client, f"/admin/tokens/{new_id}/revoke")
    assert r.headers["location"] == "/admin/tokens?done=token_revoked"
    assert client.get("/api/v1/sensors", headers=bearer(raw)).status_code == 401


def test_audit_page_is_the_tenants_own_newest_first_and_filterable(client, org, login):
    acme, _ = org
    login(acme, password="wrong password")
    login(BOSS)
    _post(client, f"/admin/users/{_user_id(client, acme.email)}/unlock")
    page = client.get("/admin/audit?lang=en").text
    actions = re.findall(r'<span class="badge">([^<]+)</span>', page)
    assert actions[0] == "user.unlock" and "login.failed" in actions and "login.ok" in actions
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', page)]
    assert ids == sorted(ids, reverse=True)
    assert "globex" not in page
    logins = client.get("/admin/audit?action=login").text
    assert set(re.findall(r'<span class="badge">([^<]+)</span>', logins)) == {"login.ok", "login.failed"}
    assert EN["audit_none"] in client.get("/admin/audit?actor=nobody-at-all").text  # ?lang=en stuck


def test_out_of_range_ids_are_refused_not_500(client, org, login):
    login(BOSS)
    assert _post(client, f"/admin/users/{2**70}/disable").status_code == 422
    assert client.get(f"/admin/audit?before={2**70}").status_code == 422


def test_the_admin_downloads_every_row_of_the_tenant_as_one_zip(client, org, login):
    acme, globex = org
    for tenant, subnet in ((acme, "10.1.1"), (globex, "10.2.2")):
        assert post_batch(client, tenant.sensor_token, plant_batch(subnet)).status_code == 200
    login(acme)
    assert client.get("/admin/export").status_code == 403
    client.cookies.clear()
    login(BOSS)
    page = client.get("/admin/export?lang=en").text
    assert EN["admin_export_button"] in page and re.search(r'<td class="mono">flows</td><td class="num">2</td>', page)
    assert client.post("/admin/export", data={"csrf_token": "forged"}).status_code == 403
    r = client.post("/admin/export", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(archive.read("manifest.json"))
    flows = pq.read_table(io.BytesIO(archive.read("clickhouse/flows.parquet")))
    assert flows.num_rows == 2 and set(flows.column("resp_h").to_pylist()) == {"10.1.1.2"}
    for f in manifest["files"]:
        assert hashlib.sha256(archive.read(f["path"])).hexdigest() == f["sha256"]
    assert b"10.2.2" not in b"".join(archive.read(n) for n in archive.namelist())  # nothing of globex
    with client.app.state.controlplane.sessions() as db:
        assert [e.actor for e in auditlog.entries(db, acme.id, action="tenant.export")] == [BOSS.email]
