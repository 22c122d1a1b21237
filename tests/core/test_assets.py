"""The asset ledger as the API lists it: one row per device, facts merged across sources."""

from __future__ import annotations

from datetime import timedelta

from coretest import T0, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.store.controlplane import AuditLog
from sensor import wire


def get(client, token, path):
    r = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()



def test_facts_known_only_by_ip_join_the_device_holding_that_ip(settings):
    dns_name = dict(ts=T0 + timedelta(seconds=5), mac="", ip="10.0.0.2", attribute="hostname",
                    value="plc-1.plant.example", source="dns", confidence=95)
    unknown = dict(dns_name, ip="10.9.9.9", value="far-away.example")
    with TestClient(create_app(settings)) as client:
        acme = provision(client.app, "acme")
        base = make_batch()
        extra = make_batch(flows=[], events=[], start=T0 + timedelta(minutes=1))
        extra.tables["observations"] = wire.table_from_rows("observations", [dns_name, unknown])
        for batch in (base, extra):
            assert post_batch(client, acme.sensor_token, wire.encode(batch)).status_code == 200
        assets = get(client, acme.api_token, "/api/v1/assets")
    by_ip = {a["ip"]: a for a in assets}
    assert len(assets) == 3  # 10.0.0.2 is one device (not a MAC row plus an IP-only row); 10.0.0.1 is its peer
    assert by_ip["10.0.0.2"]["mac"] == "00:1b:1b:00:00:02"
    assert by_ip["10.0.0.2"]["hostname"] == "plc-1.plant.example"  # higher confidence than DHCP's
    assert by_ip["10.9.9.9"] == dict(by_ip["10.9.9.9"], mac="", hostname="far-away.example")


def test_detail_annotations_csv_and_filters(settings):
    with TestClient(create_app(settings)) as client:
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        assert post_batch(client, acme.sensor_token, wire.encode(make_batch())).status_code == 200
        plc = "00:1b:1b:00:00:02"
        auth = {"Authorization": f"Bearer {acme.api_token}"}

        detail = get(client, acme.api_token, f"/api/v1/assets/{plc}")
        assert detail["role"] == "plc" and detail["ip"] == "10.0.0.2"
        assert [(a["value"], a["source"]) for a in detail["attributes"]["vendor"]] == [("Siemens", "oui")]
        assert {p["peer"] for p in detail["peers"]} == {"10.0.0.1"}
        assert detail["events"][0]["action"] == "read_holding_registers"

        note = {"authorized": "authorized", "importance": "critical", "tags": ["line-1", " line-1 "],
                "notes": "Main press PLC"}
        r = client.put(f"/api/v1/assets/{plc}/annotation", json=note, headers=auth)
        assert r.status_code == 200 and r.json()["tags"] == ["line-1"]
        # re-observation (the same facts again, later) leaves the analyst's word alone
        later = make_batch(start=T0 + timedelta(minutes=5))
        assert post_batch(client, acme.sensor_token, wire.encode(later)).status_code == 200
        again = get(client, acme.api_token, f"/api/v1/assets/{plc}")
        assert (again["authorized"], again["importance"], again["notes"]) == ("authorized", "critical",
                                                                             "Main press PLC")

        assert client.put(f"/api/v1/assets/{plc}/annotation", json={"importance": "huge"},
                          headers=auth).status_code == 422
        cookie_only = client.put(f"/api/v1/assets/{plc}/annotation", json=note)
        assert cookie_only.status_code in (401, 403)
        assert client.put("/api/v1/assets/no-such-device/annotation", json=note,
                          headers=auth).status_code == 404
        # another tenant can neither see nor annotate it
        other = {"Authorization": f"Bearer {globex.api_token}"}
        assert client.get(f"/api/v1/assets/{plc}", headers=other).status_code == 404
        assert client.put(f"/api/v1/assets/{plc}/annotation", json=note, headers=other).status_code == 404

        assert [a["ip"] for a in get(client, acme.api_token, "/api/v1/assets?role=plc")] == ["10.0.0.2"]
        assert [a["ip"] for a in get(client, acme.api_token, "/api/v1/assets?q=siemens")] == ["10.0.0.2"]
        ordered = [a["ip"] for a in get(client, acme.api_token, "/api/v1/assets?sort=ip&order=desc")]
        assert ordered == sorted(ordered, reverse=True)

        csv_text = client.get("/api/v1/assets.csv", headers=auth).text
        header, *rows = csv_text.strip().splitlines()
        assert header.startswith("ip,mac,role,vendor") and len(rows) == 2
        assert any(r.startswith("10.0.0.2,00:1b:1b:00:00:02,plc,Siemens") and "critical" in r for r in rows)

        with client.app.state.controlplane.sessions() as db:
            actions = [a.action for a in db.query(AuditLog).all()]
        assert "asset.annotate" in actions
