"""What active identification learns reaches the ledger like passive facts, marked as its own: a
controller seen only setting up an S7 connection (no identity on the wire) is asked by the sensor
(a responder on 127.77.0.11 answering as the simulated S7-1200), its answer goes through the real
core (ingest into chDB), and the device's ledger row names its order number and firmware with the
source ``active``, beside the event that says what was sent."""

from __future__ import annotations

from dataclasses import replace

from coretest import bearer, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from tests.sensor.conftest import pcap_bytes
from tests.sensor.test_active import ANSWERS, DEVICES, Responder, identifier, seen_traffic, settings


def test_active_facts_reach_the_ledger_with_their_source(module_settings, tmp_path):
    device, _, transport, port = DEVICES["s7"]
    pcap = tmp_path / "seen.pcap"
    pcap.write_bytes(pcap_bytes(seen_traffic()))
    seen = list(iter_batches([pcap], sensor="SN-acme", observer=Observer()))
    responder = Responder(device.ip_text, transport, port, ANSWERS["s7"])
    try:
        asked = identifier(replace(settings(tmp_path), protocols=["s7comm"]), seen).round()
    finally:
        responder.close()
    with TestClient(create_app(module_settings)) as client:
        acme = provision(client.app, "acme")
        for batch in [*seen, asked]:
            assert client.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch)).status == "stored"
        r = client.get(f"/api/v1/assets/{device.mac_text}", headers=bearer(acme.api_token))
    assert r.status_code == 200, r.text
    row = r.json()
    assert (row["ip"], row["vendor"], row["model"], row["firmware"]) == (
        device.ip_text, "Siemens", "6ES7 214-1AG40-0XB0", "V4.4.0")
    sources = {(a["value"], a["source"]) for a in row["attributes"]["model"] + row["attributes"]["firmware"]}
    assert sources == {("6ES7 214-1AG40-0XB0", "active"), ("V4.4.0", "active")}
    sent = [e for e in row["events"] if e["protocol"] == "active"]
    assert [(e["action"], e["status"], e["attrs"]["messages"]) for e in sent] == [("s7comm_read_szl", "identified", "3")]
