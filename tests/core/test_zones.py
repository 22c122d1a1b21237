"""Zones: defaults by VLAN and subnet, the analyst's zone and Purdue level (kept and audited), and the
links between zones from the hourly rollup of traffic ingested through the real API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from coretest import T0, bearer, flow, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.analytics.ledger import Asset
from core.analytics.zones import EXTERNAL, L2_ONLY, default_zone
from core.api.app import create_app
from core.store.controlplane import AuditLog
from sensor import wire

HMI, PLC, PLC2, EWS = "10.0.1.10", "10.0.2.20", "10.0.2.21", "10.0.1.11"
HMI_MAC, PLC_MAC = "00:0c:29:00:01:10", "00:1b:1b:00:02:20"


@pytest.mark.parametrize(("asset", "zone"), [
    (Asset("a", ips={"192.168.1.77"}, vlans={20, 10}), "VLAN 10"),  # VLAN first, the lowest of several
    (Asset("192.168.1.77", ips={"192.168.1.77"}), "192.168.1.0/24"),
    (Asset("fd00::1:2", ips={"fd00::1:2"}), "fd00::/64"),
    (Asset("00:1b:1b:00:00:09", mac="00:1b:1b:00:00:09"), L2_ONLY),
])
def test_default_zone_is_the_vlan_else_the_subnet(asset, zone):
    assert default_zone(asset) == zone


def _observation(mac: str, ip: str, attribute: str, value: str) -> dict:
    return dict(ts=T0, mac=mac, ip=ip, attribute=attribute, value=value, source="test", confidence=90)


def _plant_batches() -> list[wire.Batch]:
    """HMI (10.0.1.0/24) polls two PLCs (10.0.2.0/24) over Modbus in two hours, an engineering
    workstation talks to the HMI inside its own subnet and to a host on the Internet, a camera on
    VLAN 30 streams to a recorder there, which the HMI's web page is fed from untagged; plus a
    broadcast that is no one's link."""
    hour_one = [
        flow(HMI, PLC, "modbus", nbytes=1000, pkts=10, orig_l2_addr=HMI_MAC, resp_l2_addr=PLC_MAC),
        flow(HMI, PLC2, "modbus", nbytes=400, pkts=4),
        flow(EWS, HMI, "vnc", nbytes=300, pkts=3, resp_p=5900),
        flow(EWS, "8.8.8.8", "dns", proto="udp", nbytes=200, pkts=2, resp_p=53),
        flow(EWS, "10.0.1.255", "", proto="udp", nbytes=90, pkts=1, resp_p=137),
        flow(EWS, "239.255.255.250", "ssdp", proto="udp", nbytes=90, pkts=1, resp_p=1900),
        flow("10.0.3.5", "10.0.3.6", "rtsp", nbytes=5000, pkts=5, resp_p=554, vlan=30),
        flow("10.0.3.6", HMI, "http", nbytes=600, pkts=6, resp_p=80),
    ]
    hour_two = [flow(HMI, PLC, "modbus", ts=T0 + timedelta(hours=1), nbytes=3000, pkts=30)]
    observations = [_observation(HMI_MAC, HMI, "hostname", "hmi-1"), _observation(PLC_MAC, PLC, "vendor", "Siemens")]
    return [make_batch(hour_one, events=[], observations=observations),
            make_batch(hour_two, events=[], observations=[], start=T0 + timedelta(hours=1))]


@pytest.fixture
def plant(settings):
    with TestClient(create_app(settings)) as client:
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        for batch in _plant_batches():
            assert post_batch(client, acme.sensor_token, wire.encode(batch)).status_code == 200
        yield client, acme, globex


def _get(client, token, path, **params):
    r = client.get(path, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


WHOLE_DAY = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}


def test_zones_by_default_and_links_between_them_from_the_rollup(plant):
    client, acme, globex = plant
    zones = {z["name"]: z for z in _get(client, acme.api_token, "/api/v1/zones")}
    assert set(zones) == {"10.0.1.0/24", "10.0.2.0/24", "VLAN 30"}
    assert [d["ip"] for d in zones["10.0.1.0/24"]["devices"]] == [HMI, EWS]
    assert [d["device"] for d in zones["10.0.2.0/24"]["devices"]] == [PLC_MAC, PLC2]
    assert zones["10.0.1.0/24"]["devices"][0] == {
        "device": HMI_MAC, "ip": HMI, "hostname": "hmi-1", "vendor": "", "role": "hmi",
        "purdue_level": None, "assigned": False}

    links = _get(client, acme.api_token, "/api/v1/zones/links", **WHOLE_DAY)
    by_pair = {(x["source_zone"], x["target_zone"], x["service"]): x for x in links}
    assert set(by_pair) == {("10.0.1.0/24", "10.0.2.0/24", "modbus"), ("10.0.1.0/24", EXTERNAL, "dns"),
                            ("VLAN 30", "10.0.1.0/24", "http")}  # the VNC inside 10.0.1.0/24 is no zone link
    modbus = by_pair[("10.0.1.0/24", "10.0.2.0/24", "modbus")]
    assert (modbus["bytes"], modbus["packets"], modbus["flows"]) == (1000 + 400 + 3000, 10 + 4 + 30, 3)
    assert modbus["devices"] == sorted([HMI_MAC, PLC_MAC, PLC2])
    assert (modbus["first_hour"], modbus["last_hour"]) == ("2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z")
    assert links[0]["bytes"] == max(x["bytes"] for x in links)  # the heaviest first
    assert by_pair[("10.0.1.0/24", EXTERNAL, "dns")]["devices"] == [EWS]

    first_hour = _get(client, acme.api_token, "/api/v1/zones/links", start=T0.isoformat(),
                      end=(T0 + timedelta(hours=1)).isoformat())
    assert {x["service"]: x["bytes"] for x in first_hour}["modbus"] == 1400  # the window's hours only
    second_hour = _get(client, acme.api_token, "/api/v1/zones", start=(T0 + timedelta(hours=1)).isoformat())
    assert [(z["name"], [d["ip"] for d in z["devices"]]) for z in second_hour] == [
        ("10.0.1.0/24", [HMI]), ("10.0.2.0/24", [PLC])]  # the devices seen in the window only
    assert _get(client, globex.api_token, "/api/v1/zones") == []
    assert _get(client, globex.api_token, "/api/v1/zones/links", **WHOLE_DAY) == []


def test_the_analysts_zone_and_purdue_level_persist_and_are_audited(plant):
    client, acme, globex = plant
    auth = bearer(acme.api_token)
    r = client.put(f"/api/v1/assets/{PLC_MAC}/annotation", headers=auth,
                   json={"importance": "critical", "zone": "  Cell  A ", "purdue_level": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["zone"], r.json()["purdue_level"]) == ("Cell A", 1)
    # a group: both PLCs into one zone; the first keeps its importance and Purdue level
    r = client.post("/api/v1/zones/assignments", headers=auth, json={"devices": [PLC2, PLC_MAC, PLC2], "zone": "Cell A"})
    assert r.status_code == 200, r.text
    assert [(x["device"], x["zone"], x["importance"], x["purdue_level"]) for x in r.json()] == [
        (PLC_MAC, "Cell A", "critical", 1), (PLC2, "Cell A", "", None)]
    r = client.patch(f"/api/v1/assets/{HMI_MAC}/annotation", headers=auth, json={"purdue_level": 2})
    assert r.status_code == 200, r.text
    assert (r.json()["purdue_level"], r.json()["authorized"]) == (2, "unknown")

    plc = _get(client, acme.api_token, f"/api/v1/assets/{PLC_MAC}")
    assert (plc["zone"], plc["purdue_level"], plc["importance"]) == ("Cell A", 1, "critical")
    zones = _get(client, acme.api_token, "/api/v1/zones")
    assert [z["name"] for z in zones] == ["10.0.1.0/24", "Cell A", "VLAN 30"]  # level 2, level 1, none
    assert [(d["device"], d["assigned"], d["purdue_level"]) for d in zones[1]["devices"]] == [
        (PLC_MAC, True, 1), (PLC2, True, None)]
    assert zones[1]["purdue_levels"] == [1]
    links = _get(client, acme.api_token, "/api/v1/zones/links", **WHOLE_DAY)
    assert {(x["source_zone"], x["target_zone"]) for x in links if x["service"] == "modbus"} == {
        ("10.0.1.0/24", "Cell A")}

    r = client.post("/api/v1/zones/assignments", headers=auth, json={"devices": [PLC2], "zone": ""})
    assert r.status_code == 200
    assert "10.0.2.0/24" in {z["name"] for z in _get(client, acme.api_token, "/api/v1/zones")}  # back to default
    with client.app.state.controlplane.sessions() as db:
        trail = [(a.action, a.detail) for a in db.query(AuditLog).filter(AuditLog.action.like("asset.%"))]
    assert [action for action, _ in trail] == ["asset.annotate", "asset.zone", "asset.annotate", "asset.zone"]
    assert trail[1][1] == f'{{"zone": "Cell A"}}: {PLC_MAC}, {PLC2}'
    assert '"purdue_level":2' in trail[2][1]
    # another tenant can neither see nor assign these devices
    other = client.post("/api/v1/zones/assignments", headers=bearer(globex.api_token),
                        json={"devices": [PLC_MAC], "zone": "x"})
    assert other.status_code == 404


@pytest.mark.parametrize(("method", "path", "body", "code"), [
    ("patch", f"/api/v1/assets/{PLC_MAC}/annotation", {"purdue_level": 6}, 422),
    ("patch", f"/api/v1/assets/{PLC_MAC}/annotation", {"purdue_level": -1}, 422),
    ("patch", f"/api/v1/assets/{PLC_MAC}/annotation", {"zone": "a\nb"}, 422),
    ("patch", f"/api/v1/assets/{PLC_MAC}/annotation", {"zone": "z" * 65}, 422),
    ("patch", "/api/v1/assets/00:00:00:00:00:99/annotation", {"zone": "x"}, 404),
    ("post", "/api/v1/zones/assignments", {"devices": [], "zone": "x"}, 422),
    ("post", "/api/v1/zones/assignments", {"devices": [PLC_MAC]}, 422),
    ("post", "/api/v1/zones/assignments", {"devices": [PLC_MAC, "10.9.9.9"], "zone": "x"}, 404),
    ("get", "/api/v1/zones/links?start=yesterday", None, 422),
    ("get", "/api/v1/zones/links?start=2024-05-01T12:00Z&end=2024-05-01T12:00Z", None, 422),
    ("get", "/api/v1/zones?start=2024-05-01T13:00Z&end=2024-05-01T12:00Z", None, 422),
])
def test_bad_input_is_refused_with_a_reason(plant, method, path, body, code):
    client, acme, _ = plant
    r = client.request(method, path, json=body, headers=bearer(acme.api_token))
    assert r.status_code == code, r.text
    assert r.json()["detail"]


def test_writes_need_an_api_token(plant):
    client, acme, _ = plant
    r = client.post("/api/v1/zones/assignments", json={"devices": [PLC_MAC], "zone": "x"})
    assert r.status_code == 401
