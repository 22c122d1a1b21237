"""The asset ledger as the API lists it: one row per device, facts merged across sources."""

from __future__ import annotations

from datetime import timedelta

from coretest import T0, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
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
    assert len(assets) == 2  # 10.0.0.2 is one device, not a MAC row plus an IP-only row
    assert by_ip["10.0.0.2"]["mac"] == "00:1b:1b:00:00:02"
    assert by_ip["10.0.0.2"]["hostname"] == "plc-1.plant.example"  # higher confidence than DHCP's
    assert by_ip["10.9.9.9"] == dict(by_ip["10.9.9.9"], mac="", hostname="far-away.example")
