"""Sensor activation, replacement, completion dates and health over the HTTP API (TestClient)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from coretest import bearer, every_row, make_batch, post_batch, provision
from sqlalchemy import select

from core.access import accounts
from core.fleet import activation, installation
from core.access.auth import hash_token
from core.store.controlplane import AuditLog, Sensor
from sensor import wire

SENSOR_ROUTES = [
    ("GET", "/api/v1/sensor/clock"),
    ("POST", "/api/v1/sensor/installation"),
    ("POST", "/api/v1/sensor/opening-test"),
    ("POST", "/api/v1/sensor/health"),
]
HEALTH = {"capture_pps": 812.5, "kernel_drops": 3, "parse_errors": 1, "spool_depth": 2,
          "spool_bytes": 4096, "spool_oldest_age_s": 61.0, "last_upload": "2024-05-01T12:00:00Z",
          "bytes_this_month": 10_000_000, "monthly_budget_bytes": 3_000_000_000}


def ship(app, tenant: str, serial: str, valid=timedelta(days=14)) -> tuple[int, str]:
    """A shipped sensor's id and its activation code (the tenant is created if needed)."""
    with app.state.controlplane.sessions() as db:
        try:
            owner = accounts.tenant_named(db, tenant)
        except accounts.AccountError:
            owner = accounts.create_tenant(db, tenant)
        sensor, code, _ = activation.ship_sensor(db, owner, serial, "", valid)
        return sensor.id, code


def activate(client, code: str):
    return client.post("/api/v1/activate", json={"code": code})


def sensor_row(app, sensor_id: int) -> Sensor:
    with app.state.controlplane.sessions() as db:
        return db.get(Sensor, sensor_id)


def audit_actions(app, tenant_id=None) -> list[tuple[str, str]]:
    with app.state.controlplane.sessions() as db:
        rows = db.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(r.action, r.detail) for r in rows if tenant_id is None or r.tenant_id == tenant_id]


def test_codes_are_typeable():
    code = activation.new_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    plain = code.replace("-", "")
    assert activation.normalize(f" {code.lower()} ") == activation.normalize(plain) == plain
    assert activation.normalize("0o1i-l000 0000 0000") == "0011100000000000"  # O→0, I/L→1
    for bad in ("", "ABCD-EFGH", "UUUU-UUUU-UUUU-UUUU", plain + "0"):
        with pytest.raises(activation.ActivationError, match="not an activation code"):
            activation.normalize(bad)


def test_activation_gives_a_working_token_and_only_hashes_are_stored(client, module_settings):
    sensor_id, code = ship(client.app, "act", "SN-act")
    assert sensor_row(client.app, sensor_id).status == "shipped"
    r = activate(client, code.lower())  # as typed by a hurried installer
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sensor_id"] == sensor_id and body["serial"] == "SN-act" and body["ca_pem"] is None
    assert client.get("/api/v1/sensor/clock", headers=bearer(body["token"])).status_code == 200
    row = sensor_row(client.app, sensor_id)
    assert row.status == "activated" and row.activated_at is not None
    with client.app.state.controlplane.sessions() as db:
        dump = every_row(db)
    raw_file = b"".join(p.read_bytes() for p in module_settings.data_dir.glob("control.db*"))
    for secret in (code, code.replace("-", ""), body["token"]):
        assert secret not in dump and secret.encode() not in raw_file
    assert hash_token(code.replace("-", "")) in dump
    assert ("sensor.activate", f"sensor {sensor_id}") in audit_actions(client.app)


def test_refused_codes_say_why(client):
    _, used = ship(client.app, "refuse", "SN-used")
    assert activate(client, used).status_code == 200
    _, expired = ship(client.app, "refuse", "SN-expired", valid=timedelta(seconds=-1))
    sensor_id, superseded = ship(client.app, "refuse", "SN-reissued")
    with client.app.state.controlplane.sessions() as db:
        fresh, _ = activation.issue_code(db, db.get(Sensor, sensor_id), "SN-reissued", timedelta(days=1))
    cases = [
        ("not-a-code", 400, "not an activation code"),
        (activation.new_code(), 404, "not recognised"),
        (used, 409, "already used"),
        (expired, 410, "expired"),
        (superseded, 410, "expired"),
    ]
    for code, status, message in cases:
        r = activate(client, code)
        assert r.status_code == status and message in r.json()["detail"], (code, r.text)
    assert activate(client, fresh).status_code == 200
    refused = [a for a in audit_actions(client.app) if a[0] == "sensor.activate_refused"]
    assert len(refused) == len(cases)


def test_ca_certificate_is_handed_out_for_pinning(client, tmp_path, monkeypatch):
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(client.app.state.settings, "ca_cert_file", pem)
    _, code = ship(client.app, "ca", "SN-ca")
    assert activate(client, code).json()["ca_pem"] == pem.read_text()


def test_replacement_keeps_identity_and_history_and_revokes_the_old_token(client):
    t = provision(client.app, "swap")
    assert post_batch(client, t.sensor_token, wire.encode(make_batch())).status_code == 200
    assert client.post("/api/v1/sensor/installation", headers=bearer(t.sensor_token)).status_code == 200
    installed = sensor_row(client.app, t.sensor_id).installed_at
    with client.app.state.controlplane.sessions() as db:
        tenant = accounts.tenant_named(db, "swap")
        sensor, code, _ = activation.replace_sensor(db, tenant, "SN-swap", "SN-swap-2", timedelta(days=1))
    assert sensor.id == t.sensor_id
    # the old box keeps working until the new one is activated (no data lost in between)
    assert client.get("/api/v1/sensor/clock", headers=bearer(t.sensor_token)).status_code == 200
    new = activate(client, code).json()
    assert new["sensor_id"] == t.sensor_id and new["serial"] == "SN-swap-2"
    old_batch = wire.encode(make_batch(start=datetime(2024, 5, 1, 13, 0, tzinfo=UTC)))
    r = post_batch(client, t.sensor_token, old_batch)
    assert r.status_code == 401 and r.json()["detail"] == "invalid sensor token"
    assert post_batch(client, new["token"], old_batch).status_code == 200
    [listed] = client.get("/api/v1/sensors", headers=bearer(t.api_token)).json()
    assert listed["id"] == t.sensor_id and listed["serial"] == "SN-swap-2"
    assert listed["batches"] == 2  # the old box's batch plus the new box's
    row = sensor_row(client.app, t.sensor_id)
    assert row.installed_at == installed and row.status == "activated"
    actions = audit_actions(client.app, t.id)
    assert ("sensor.replace", f"sensor {t.sensor_id}: box SN-swap to be replaced by SN-swap-2") in actions
    assert ("sensor.activate", f"sensor {t.sensor_id}: box SN-swap-2 replaces SN-swap") in actions


def test_completion_dates_first_report_wins_until_an_operator_resets(client, clock):
    sensor_id, code = ship(client.app, "dates", "SN-dates")
    token = activate(client, code).json()["token"]
    first = datetime(2024, 5, 1, 20, 30, tzinfo=UTC)  # already 2 May in Japan
    for hours in (0, 5):
        clock(first + timedelta(hours=hours))
        r = client.post("/api/v1/sensor/installation", headers=bearer(token))
        assert r.status_code == 200 and r.json()["installed_at"] == "2024-05-01T20:30:00Z"
    heartbeat = make_batch([], [], [])
    r = client.post("/api/v1/sensor/opening-test", headers=bearer(token),
                    json={"batch_id": heartbeat.batch_id, "checks": [{"name": "clock", "status": "PASS"}]})
    assert r.status_code == 409 and "has not been stored" in r.json()["detail"]
    assert post_batch(client, token, wire.encode(heartbeat)).status_code == 200
    for hours in (24, 48):
        clock(first + timedelta(hours=hours))
        r = client.post("/api/v1/sensor/opening-test", headers=bearer(token),
                        json={"batch_id": heartbeat.batch_id, "checks": []})
        assert r.status_code == 200, r.text
        assert r.json() == {"installed_at": "2024-05-01T20:30:00Z",
                            "opening_tested_at": "2024-05-02T20:30:00Z", "status": "opened"}
    with client.app.state.controlplane.sessions() as db:
        installation.reset(db, db.get(Sensor, sensor_id), "opening-test")
    assert sensor_row(client.app, sensor_id).status == "activated"
    r = client.post("/api/v1/sensor/opening-test", headers=bearer(token), json={"batch_id": heartbeat.batch_id})
    assert r.json()["opening_tested_at"] == "2024-05-03T20:30:00Z"
    actions = [a for a, _ in audit_actions(client.app, sensor_row(client.app, sensor_id).tenant_id)]
    assert actions.count("sensor.installation") == 1
    assert actions.count("sensor.opening-test") == 2 and "sensor.opening-test.reset" in actions


def test_health_reports_and_dates_are_listed_for_the_tenants_analysts(client, clock):
    a, b = provision(client.app, "health-a"), provision(client.app, "health-b")
    clock(datetime(2024, 5, 1, 16, 0, tzinfo=UTC))  # 01:00 on 2 May in Japan
    assert client.post("/api/v1/sensor/installation", headers=bearer(a.sensor_token)).status_code == 200
    r = client.post("/api/v1/sensor/health", headers=bearer(a.sensor_token), json=HEALTH)
    assert r.status_code == 200, r.text
    [mine] = client.get("/api/v1/sensors", headers=bearer(a.api_token)).json()
    assert mine["health"]["capture_pps"] == 812.5 and mine["health"]["bytes_this_month"] == 10_000_000
    assert mine["health_at"] == "2024-05-01T16:00:00Z"
    assert mine["installation_completed_date"] == "2024-05-02" and mine["opening_test_completed_date"] is None
    [theirs] = client.get("/api/v1/sensors", headers=bearer(b.api_token)).json()
    assert theirs["id"] == b.sensor_id and theirs["health"] is None and theirs["installed_at"] is None
    for bad in (HEALTH | {"tenant_id": b.id}, HEALTH | {"kernel_drops": -1}, {"capture_pps": 1}):
        assert client.post("/api/v1/sensor/health", headers=bearer(a.sensor_token), json=bad).status_code == 422


@pytest.mark.parametrize(("method", "path"), SENSOR_ROUTES)
def test_sensor_routes_act_only_on_the_callers_own_sensor(client, method, path):
    name = path.rsplit("/", 1)[1]
    a, b = provision(client.app, f"iso-a-{name}"), provision(client.app, f"iso-b-{name}")
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers=bearer(a.api_token)).status_code == 401  # users are not sensors
    heartbeat = make_batch([], [], [])
    assert post_batch(client, a.sensor_token, wire.encode(heartbeat)).status_code == 200
    body = {"opening-test": {"batch_id": heartbeat.batch_id}, "health": HEALTH}.get(name)
    # B's ids in the query and body must not matter: the token alone says which sensor this is
    r = client.request(method, path, headers=bearer(a.sensor_token), json=body,
                       params={"sensor_id": b.sensor_id, "tenant_id": b.id})
    assert r.status_code == 200, r.text
    other = sensor_row(client.app, b.sensor_id)
    assert (other.installed_at, other.opening_tested_at, other.health, other.status) == (None, None, None, "activated")
    # B's sensor cannot claim A's test batch
    r = client.post("/api/v1/sensor/opening-test", headers=bearer(b.sensor_token),
                    json={"batch_id": heartbeat.batch_id})
    assert r.status_code == 409

