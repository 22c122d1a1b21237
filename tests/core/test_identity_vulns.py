"""The simulated plant's controllers name themselves in their own protocols (S7 SZL, Modbus device
identification, CIP Identity, FINS, SLMP, BACnet, PROFINET DCP); through the real core — the sensor
pipeline, ingest into chDB, the asset ledger, the shared CISA advisories — the ledger shows their
vendor, model and firmware and the vulnerabilities page lists the advisories they fall under."""

from __future__ import annotations

from pathlib import Path

import pytest
from coretest import bearer, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.vulns.store import import_path
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")

# plant name → what its ledger row says (vendor, model, firmware) and an advisory it falls under
EXPECTED = {
    "plc-s7-1": (("Siemens", "6ES7 214-1AG40-0XB0", "V4.4.0"), "ICSA-22-286-04"),
    "plc-s7-2": (("Siemens", "6ES7 515-2AM01-0AB0", "V2.8.3"), "ICSA-22-286-04"),
    "plc-m340-1": (("Schneider Electric", "BMX P34 2020", "v2.8"), "ICSA-17-054-03"),
    "plc-cp1l-1": (("OMRON", "CP1L-EM40DT-D", "01.07"), "ICSA-22-179-02"),
    "plc-logix-1": (("Rockwell Automation/Allen-Bradley", "1756-L83E/B LOGIX5583E", "33.11"), "ICSA-24-284-20"),
    "plc-iqr-1": (("Mitsubishi Electric", "R04ENCPU", ""), "ICSA-20-161-02"),
    "bms-o3-1": (("Delta Controls", "O3-DIN-CPU", "4.40.1"), None),
}


@pytest.fixture(scope="module")
def site(module_settings, tmp_path_factory):
    with TestClient(create_app(module_settings)) as client:
        acme = provision(client.app, "acme")
        pcap = tmp_path_factory.mktemp("plant") / "plant.pcap"
        summary = write_pcap(pcap, 4_000, seed=3)  # its first ~13 s, before any incident
        for batch in iter_batches([pcap], 60.0, sensor="SN-acme", observer=Observer()):
            assert client.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch)).status == "stored"
        import_path(client.app.state.clickhouse, CSAF)
        yield client, acme, {d["name"]: d for d in summary["devices"]}


def test_the_ledger_names_the_controllers_and_their_advisories(site):
    client, acme, devices = site
    for name, (identity, advisory) in EXPECTED.items():
        r = client.get(f"/api/v1/assets/{devices[name]['mac']}", headers=bearer(acme.api_token))
        assert r.status_code == 200, (name, r.text)
        detail = r.json()  # the device's ledger row, with its vulnerabilities
        assert (detail["ip"], detail["vendor"], detail["model"], detail["firmware"]) == (devices[name]["ip"], *identity)
        advisories = {v["advisory"] for v in detail["vulnerabilities"]}
        assert (advisory in advisories) if advisory else not advisories, (name, advisories)
    found = client.get("/api/v1/vulnerabilities", headers=bearer(acme.api_token)).json()
    affected = {d["device"] for d in found["by_device"]}
    assert {devices[n]["mac"] for n, (_, advisory) in EXPECTED.items() if advisory} <= affected


def test_software_a_device_runs_as_a_client_is_not_its_firmware(site):
    """The NVR's User-Agent (RTSP and HTTP requests to its cameras) is client software: listed as such,
    never the NVR's firmware — where a server's own banner may stand in for one."""
    client, acme, devices = site
    detail = client.get(f"/api/v1/assets/{devices['nvr-1']['mac']}", headers=bearer(acme.api_token)).json()
    assert {a["value"] for a in detail["attributes"]["client_software"]} == {"NVR/4.1"}
    assert "NVR/4.1" not in {a["value"] for a in detail["attributes"].get("software", [])}
    assert detail["firmware"] != "NVR/4.1"
