"""The alerts API over a real HTTP server: list (filters, paging, sort), one alert with its
evidence, triage (status, assignee, comment; API token; audited), learn, CSV, tenant isolation."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from coretest import T0, bearer, post_batch
from test_detect import HMI, HOUR, LAPTOP, PLC, batch, poll

from sqlalchemy import select

from core.access import auth
from core.store.controlplane import AuditLog, Tenant, User
from sensor import wire


@pytest.fixture
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


@pytest.fixture
def raised(live, live_tenants, http):
    """acme learns an hour of polling, then a laptop writes to the PLC and the HMI writes too."""
    acme, _ = live_tenants
    with live.app.state.controlplane.session() as db:
        db.get(Tenant, acme.id).learning_hours = 1
    later = T0 + 2 * HOUR
    for b in (batch(T0, poll(T0)),
              batch(later, poll(later, action="write_single_register"),
                    poll(later, orig=LAPTOP, action="write_single_register"))):
        assert post_batch(http, acme.sensor_token, wire.encode(b)).status_code == 200
    return acme


def alerts(http, token, **params):
    r = http.get("/api/v1/alerts", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_list_filters_sorts_and_pages(raised, live_tenants, http):
    page = alerts(http, raised.api_token)
    assert page["total"] == 4
    assert sorted(a["kind"] for a in page["alerts"]) == ["new_device", "new_link", "new_ot_function",
                                                         "new_ot_function"]
    one = page["alerts"][0]
    assert set(one["src"]) == {"ip", "mac", "device"} and set(one["dst"]) == {"ip", "mac", "device"}
    high = alerts(http, raised.api_token, severity="high")
    assert {a["kind"] for a in high["alerts"]} == {"new_ot_function"}
    by_laptop = alerts(http, raised.api_token, device=LAPTOP[0])
    assert {a["kind"] for a in by_laptop["alerts"]} == {"new_device", "new_link", "new_ot_function"}
    assert alerts(http, raised.api_token, start=(T0 + 3 * HOUR).isoformat())["total"] == 0
    ordered = alerts(http, raised.api_token, sort="severity", order="desc")["alerts"]
    assert [a["severity"] for a in ordered][0] == "high" and ordered[-1]["severity"] == "low"
    first, second = (alerts(http, raised.api_token, limit=1, offset=n, sort="kind")["alerts"] for n in (0, 1))
    assert first[0]["id"] != second[0]["id"]
    _, globex = live_tenants
    assert alerts(http, globex.api_token)["total"] == 0
    assert http.get(f"/api/v1/alerts/{one['id']}", headers=bearer(globex.api_token)).status_code == 404


def test_detail_triage_learn_and_csv(live, raised, http):
    (function,) = [a for a in alerts(http, raised.api_token, kind="new_ot_function")["alerts"]
                   if a["src"]["ip"] == HMI[0]]
    r = http.get(f"/api/v1/alerts/{function['id']}", headers=bearer(raised.api_token))
    assert r.status_code == 200
    detail = r.json()
    assert [e["action"] for e in detail["evidence_events"]] == ["write_single_register"]
    assert [f["resp_h"] for f in detail["evidence_flows"]] == [PLC[0]]

    change = {"status": "acknowledged", "assignee": "ops@acme.example", "comment": "checking with the plant"}
    r = http.patch(f"/api/v1/alerts/{function['id']}", json=change, headers=bearer(raised.api_token))
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["assignee"]) == ("acknowledged", "ops@acme.example")
    assert [c["text"] for c in got["comments"]] == ["checking with the plant"]
    assert http.patch(f"/api/v1/alerts/{function['id']}", json={"status": "gone"},
                      headers=bearer(raised.api_token)).status_code == 422
    assert http.patch(f"/api/v1/alerts/{function['id']}", json=change).status_code == 401
    with live.app.state.controlplane.sessions() as db:  # a login cookie alone may read, not write
        user = db.scalar(select(User).where(User.email == raised.email))
        cookie = {"Cookie": f"{auth.SESSION_COOKIE}={auth.start_session(db, user)}"}
    assert http.get(f"/api/v1/alerts/{function['id']}", headers=cookie).status_code == 200
    for write in (http.patch(f"/api/v1/alerts/{function['id']}", json=change, headers=cookie),
                  http.post(f"/api/v1/alerts/{function['id']}/learn", headers=cookie)):
        assert write.status_code == 403

    r = http.post(f"/api/v1/alerts/{function['id']}/learn", headers=bearer(raised.api_token))
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    with live.app.state.controlplane.sessions() as db:
        actions = [a.action for a in db.query(AuditLog).filter_by(tenant_id=raised.id)]
    assert actions.count("alert.update") == 2 and "alert.learn" in actions
    # learned: the same write later raises nothing new for that pair
    later = T0 + 5 * HOUR
    post_batch(http, raised.sensor_token, wire.encode(batch(later, poll(later, action="write_single_register"))))
    again = [a for a in alerts(http, raised.api_token, kind="new_ot_function")["alerts"] if a["src"]["ip"] == HMI[0]]
    assert [a["id"] for a in again] == [function["id"]]

    device = alerts(http, raised.api_token, kind="new_device")["alerts"][0]
    r = http.get("/api/v1/alerts.csv", params={"kind": "new_device"}, headers=bearer(raised.api_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["id"], row["src_mac"], row["severity"]) for row in rows] == [(device["id"], LAPTOP[1], "medium")]
    firmware = http.post(f"/api/v1/alerts/{'0' * 32}/learn", headers=bearer(raised.api_token))
    assert firmware.status_code == 404
