"""Read API over TestClient: results, default window, auth, and tenant isolation on every route."""

from __future__ import annotations

from datetime import timedelta

import pytest
from coretest import PASSWORD, T0, authenticated, flow, make_batch, post_batch
from fastapi.testclient import TestClient

from core.access import auth
from sensor import wire

GLOBEX_FLOW = flow(
    orig_h="10.2.0.1", resp_h="10.2.0.2", service="s7comm", nbytes=5000, pkts=50
)
GLOBEX_OBS = [
    dict(
        ts=T0,
        mac="00:0e:8c:00:00:09",
        ip="10.2.0.2",
        attribute="vendor",
        value="GlobexCorp",
        source="oui",
        confidence=90,
    )
]


@pytest.fixture(scope="module")
def data(client, tenants):
    """acme: two batches a minute apart (modbus + http); globex: one s7comm batch."""
    acme, globex = tenants
    first = make_batch(
        [
            flow(),
            flow(
                orig_h="10.0.0.3", resp_h="10.0.0.2", service="http", nbytes=300, pkts=3
            ),
        ]
    )
    second = make_batch(
        [flow(ts=T0 + timedelta(minutes=1))], start=T0 + timedelta(minutes=1)
    )
    for token, batch in [
        (acme.sensor_token, first),
        (acme.sensor_token, second),
        (globex.sensor_token, make_batch([GLOBEX_FLOW], [], GLOBEX_OBS)),
    ]:
        assert post_batch(client, token, wire.encode(batch)).status_code == 200
    return tenants


def get(client, token, path, **params):
    r = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r.text


def test_totals_and_traffic_series(client, data):
    acme, _ = data
    totals = get(client, acme.api_token, "/api/v1/totals")
    assert totals == {"packets": 17, "bytes": 1700, "flows": 3, "batches": 2,
                      "captured_packets": 17, "captured_bytes": 0, "parse_errors": 0,
                      "kernel_drops": 0}
    traffic = get(client, acme.api_token, "/api/v1/traffic", step=60)
    points = {p["t"]: p for p in traffic["series"]}
    assert points["2024-05-01T12:00:00Z"] == {
        "t": "2024-05-01T12:00:00Z",
        "bytes": 1000,
        "packets": 10,
        "flows": 2,
    }
    assert points["2024-05-01T12:01:00Z"]["bytes"] == 700
    assert len(traffic["series"]) == 24 * 60  # gaps are filled with zeros
    assert sum(p["bytes"] for p in traffic["series"]) == totals["bytes"]


def test_default_window_is_24h_up_to_newest_data(client, data):
    acme, _ = data
    traffic = get(client, acme.api_token, "/api/v1/traffic")
    assert traffic["end"] == "2024-05-01T12:03:00Z"  # newest batch ends 12:02
    assert traffic["start"] == "2024-04-30T12:03:00Z"
    assert traffic["step"] == 300


def test_explicit_window(client, data):
    acme, _ = data
    totals = get(
        client,
        acme.api_token,
        "/api/v1/totals",
        start="2024-05-01T12:01:00Z",
        end="2024-05-01T12:02:00Z",
    )
    assert totals == {"packets": 7, "bytes": 700, "flows": 1, "batches": 1,
                      "captured_packets": 7, "captured_bytes": 0, "parse_errors": 0,
                      "kernel_drops": 0}
    empty = get(
        client,
        acme.api_token,
        "/api/v1/totals",
        start="2023-01-01T00:00:00Z",
        end="2023-01-02T00:00:00Z",
    )
    assert empty == {"packets": 0, "bytes": 0, "flows": 0, "batches": 0,
                     "captured_packets": 0, "captured_bytes": 0, "parse_errors": 0, "kernel_drops": 0}


def test_bad_window_is_400(client, data):
    acme, _ = data
    r = client.get(
        "/api/v1/totals",
        params={"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {acme.api_token}"},
    )
    assert r.status_code == 400 and r.json()["detail"] == "start must be before end"
    r = client.get(
        "/api/v1/totals",
        params={"start": "yesterday"},
        headers={"Authorization": f"Bearer {acme.api_token}"},
    )
    assert r.status_code == 422 and r.json()["detail"]


def test_protocols(client, data):
    acme, _ = data
    assert get(client, acme.api_token, "/api/v1/protocols") == [
        {"service": "modbus", "proto": "tcp", "bytes": 1400, "packets": 14, "flows": 2},
        {"service": "http", "proto": "tcp", "bytes": 300, "packets": 3, "flows": 1},
    ]


def test_talkers(client, data):
    acme, _ = data
    talkers = get(client, acme.api_token, "/api/v1/talkers")
    assert talkers[0] == {"ip": "10.0.0.2", "bytes": 1700, "packets": 17, "peers": 2}
    assert {t["ip"] for t in talkers} == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert len(get(client, acme.api_token, "/api/v1/talkers", limit=1)) == 1


def test_assets(client, data):
    acme, _ = data
    assets = {a["ip"]: a for a in get(client, acme.api_token, "/api/v1/assets")}
    assert set(assets) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}  # the PLC and the hosts it talks to
    plc = assets["10.0.0.2"]
    assert {k: plc[k] for k in ("device", "mac", "vendor", "hostname", "role", "protocols_served")} == {
        "device": "00:1b:1b:00:00:02",
        "mac": "00:1b:1b:00:00:02",
        "vendor": "Siemens",
        "hostname": "plc-1",
        "role": "plc",
        "protocols_served": ["http", "modbus"],
    }
    assert plc["first_seen"] == "2024-05-01T12:00:00Z"
    assert assets["10.0.0.1"]["role"] == "hmi" and assets["10.0.0.1"]["mac"] == ""


def test_flows_filters_and_paging(client, data):
    acme, _ = data
    rows = get(client, acme.api_token, "/api/v1/flows")
    assert len(rows) == 3 and rows[0]["ts_end"] >= rows[-1]["ts_end"]
    assert set(rows[0]) == {"sensor_id", *wire.FLOWS.names}
    assert [
        r["service"]
        for r in get(client, acme.api_token, "/api/v1/flows", service="http")
    ] == ["http"]
    assert len(get(client, acme.api_token, "/api/v1/flows", host="10.0.0.3")) == 1
    page = get(client, acme.api_token, "/api/v1/flows", limit=2, offset=2)
    assert len(page) == 1
    assert (
        get(client, acme.api_token, "/api/v1/flows", host="10.0.0.1' OR 1=1 --") == []
    )


def test_sensors(client, data, clock):
    acme, _ = data
    clock(T0 + timedelta(minutes=5))
    [sensor] = get(client, acme.api_token, "/api/v1/sensors")
    assert (
        sensor["serial"] == "SN-acme"
        and sensor["batches"] == 2
        and sensor["packets"] == 17
    )
    assert sensor["last_seen"] is not None
    # The newer batch covers 12:01-12:02, three minutes before the core's clock.
    assert sensor["last_interval_end"] == "2024-05-01T12:02:00Z" and sensor["upload_lag_s"] == 180


def test_each_tenant_counts_only_its_own_traffic(client, data):
    """(Every route's isolation: test_route_isolation.py, which takes its routes from the app.)"""
    acme, globex = data
    assert get(client, acme.api_token, "/api/v1/totals", start="2024-05-01T00:00:00Z")["bytes"] == 1700
    assert get(client, globex.api_token, "/api/v1/totals", start="2024-05-01T00:00:00Z")["bytes"] == 5000


def test_session_cookie_gives_access(client, data):
    acme, _ = data
    with client.app.state.controlplane.sessions() as db:
        user = authenticated(db, acme.email, PASSWORD)
        raw = auth.start_session(db, user)
    cookie = {"Cookie": f"{auth.SESSION_COOKIE}={raw}"}
    assert client.get("/api/v1/totals", headers=cookie).json()["batches"] == 2
    with client.app.state.controlplane.sessions() as db:
        auth.end_session(db, raw)
    assert client.get("/api/v1/totals", headers=cookie).status_code == 401


def test_healthz_and_openapi(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {
        "status": "ok",
        "clickhouse": True,
        "controlplane": True,
    }
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/totals", "/api/v1/assets.csv", "/api/v1/ingest", "/healthz", "/metrics"} <= set(paths)


def test_unexpected_error_is_json(client, data, monkeypatch):
    acme, _ = data
    monkeypatch.setattr("core.analytics.assets.list_assets", lambda *a: 1 / 0)
    quiet = TestClient(
        client.app, raise_server_exceptions=False
    )  # no `with`: app already started
    r = quiet.get(
        "/api/v1/assets", headers={"Authorization": f"Bearer {acme.api_token}"}
    )
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}

