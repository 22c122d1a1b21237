"""The network map page: its figure (devices by zone, links by service, paths to device pages), the
links between zones, and the zone editor (CSRF, audit, isolation); the device page's zone field."""

from __future__ import annotations

import re

from coretest import T0, bearer, post_batch
from pagetest import csrf_token, figure, plant_batch

from core.store.controlplane import AuditLog
from dashboard.i18n import MESSAGES

PLC = "00:1b:1b:00:00:02"  # acme's 10.1.0.2 (pagetest.plant_batch)
# A second batch from 10.1.9.0/24 where acme's PLC (same MAC) answers as 10.1.9.2 too: one device
# (in 10.1.0.0/24 by its lowest address) that 10.1.9.1 and .3 reach across the zones.
REMOTE = "10.1.9"


def _map(client) -> str:
    r = client.get("/map?range=7d")
    assert r.status_code == 200, r.text
    return r.text


def _zones_of(fig: dict) -> list[str]:
    return [a["hovertext"] for a in fig["layout"]["annotations"]]


def test_map_draws_devices_by_zone_with_their_links(client, acme, globex, login):
    assert post_batch(client, acme.sensor_token, plant_batch(REMOTE, start=T0)).status_code == 200
    login(acme)
    html = _map(client)
    fig = figure(html, "network-map")
    assert _zones_of(fig) == ["10.1.0.0/24", "10.1.9.0/24"]
    nodes = [point for trace in fig["data"] if trace.get("mode") == "markers+text" for point in trace["customdata"]]
    assert sorted(nodes) == sorted(f"/assets/{d}" for d in (PLC, "10.1.0.1", "10.1.0.3", "10.1.9.1", "10.1.9.3"))
    assert not any("10.2.0" in str(n) for n in nodes)  # globex's hosts are not on acme's map
    services = {trace["name"] for trace in fig["data"] if trace.get("mode") == "lines"}
    assert services == {"modbus", "http"}
    widths = {trace["line"]["width"] for trace in fig["data"] if trace.get("mode") == "lines"}
    assert len(widths) > 1  # 7000 B and 3000 B links are not drawn alike
    rows = re.findall(r"<tr>\s*<td>(.*?)</td><td>(.*?)</td>", html.split('id="zone-links"')[1])
    assert rows == [("10.1.9.0/24", "10.1.0.0/24")]


def test_zone_editor_assigns_a_group_and_is_audited(client, acme, globex, login):
    login(acme)
    token = csrf_token(_map(client))
    r = client.post("/map/zones", data={"csrf_token": token, "devices": ["10.1.0.1", "10.1.0.3"],
                                        "zone": "Line 1", "purdue_level": "2", "range": "7d"})
    assert r.status_code == 303 and r.headers["location"] == "/map?range=7d&saved=1"
    fig = figure(_map(client), "network-map")
    assert _zones_of(fig) == ["Line 1 · L2", "10.1.0.0/24"]  # level 2 above the unlevelled zone
    zones = client.get("/api/v1/zones", headers=bearer(acme.api_token)).json()
    assert [(z["name"], [d["device"] for d in z["devices"]]) for z in zones] == [
        ("Line 1", ["10.1.0.1", "10.1.0.3"]), ("10.1.0.0/24", [PLC])]
    with client.app.state.controlplane.sessions() as db:
        details = [a.detail for a in db.query(AuditLog).filter_by(action="asset.zone")]
    assert details == ['{"zone": "Line 1", "purdue_level": 2}: 10.1.0.1, 10.1.0.3']

    # Purdue level kept, zone back to default
    r = client.post("/map/zones", data={"csrf_token": token, "devices": ["10.1.0.3"], "zone": "",
                                        "purdue_level": "keep"})
    assert r.status_code == 303
    zones = {z["name"]: z for z in client.get("/api/v1/zones", headers=bearer(acme.api_token)).json()}
    assert [(d["device"], d["purdue_level"]) for d in zones["10.1.0.0/24"]["devices"]] == [(PLC, None), ("10.1.0.3", 2)]


def test_zone_editor_refuses_bad_input_and_other_tenants_devices(client, acme, globex, login):
    login(acme)
    token = csrf_token(_map(client))
    for data, code in (
        ({"devices": ["10.1.0.1"], "zone": "x"}, 403),  # no CSRF token
        ({"csrf_token": token, "zone": "x"}, 400),  # no device
        ({"csrf_token": token, "devices": ["10.2.0.1"], "zone": "x"}, 400),  # globex's
        ({"csrf_token": token, "devices": ["10.1.0.1"], "zone": "x", "purdue_level": "7"}, 400),
        ({"csrf_token": token, "devices": ["10.1.0.1"], "zone": "z" * 65}, 400),
    ):
        assert client.post("/map/zones", data=data).status_code == code, data
    assert client.get("/api/v1/zones", headers=bearer(globex.api_token)).json()[0]["devices"][0]["assigned"] is False


def test_device_page_sets_zone_and_purdue_level(client, acme, login):
    login(acme)
    page = client.get(f"/assets/{PLC}")
    assert 'placeholder="10.1.0.0/24"' in page.text  # the default zone shows where the field is empty
    form = {"csrf_token": csrf_token(page.text), "authorized": "authorized", "importance": "high",
            "tags": "", "notes": "", "zone": "Cell A", "purdue_level": "1"}
    assert client.post(f"/assets/{PLC}/annotation", data=form).status_code == 303
    detail = client.get(f"/api/v1/assets/{PLC}", headers=bearer(acme.api_token)).json()
    assert (detail["zone"], detail["purdue_level"], detail["importance"]) == ("Cell A", 1, "high")
    bad = client.post(f"/assets/{PLC}/annotation", data=form | {"purdue_level": "9"})
    assert bad.status_code == 400 and 'value="Cell A"' in bad.text


def test_a_tenant_without_data_gets_an_empty_map(client, initech, login):
    login(initech)
    html = client.get("/map?lang=en").text
    assert "network-map-data" not in html
    assert MESSAGES["en"]["map_empty"] in html and MESSAGES["en"]["no_zone_links"] in html
