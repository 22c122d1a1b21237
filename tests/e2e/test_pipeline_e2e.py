"""The whole pipeline with real parts: simulated capture → sensor (pipeline, spool, uplink) → HTTP →
core → ClickHouse (chDB) → API; totals at the API must equal the capture's, counted independently."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from capturetest import capture_totals
from coretest import LiveServer, provision
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer
from sensor.ship.spool import Spool
from sensor.ship.uplink import Uplink

PACKETS = 90_000  # about five minutes of simulated plant: six one-minute batches
WIDE = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    summary = simulate.write_pcap(path, packets=PACKETS, seed=5)
    return path, summary, capture_totals(path)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("core"))))) as server:
        yield server


def api(core, tenant, path, **params):
    r = httpx.get(core.url + path, params={**WIDE, **params},
                  headers={"Authorization": f"Bearer {tenant.api_token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def spooled(path, directory: Path, serial: str) -> Spool:
    """A spool holding the capture's batches, as the sensor ``serial`` makes them."""
    spool = Spool(directory)
    for batch in pipeline.iter_batches([path], sensor=serial, observer=Observer()):
        spool.put(batch.batch_id, wire.encode(batch))
    return spool


def test_capture_through_sensor_process_to_api_totals(plant, core, tmp_path):
    """A real `mieruka-sensor replay` process uploads over HTTP; the API's totals equal the capture's."""
    path, summary, expected = plant
    tenant = provision(core.app, "e2e-cli")
    cli = Path(sys.executable).parent / "mieruka-sensor"
    res = subprocess.run([cli, "replay", path, "--core", core.url, "--token", tenant.sensor_token,
                          "--serial", "SN-e2e", "--spool", tmp_path / "spool"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert not list((tmp_path / "spool").glob("*.mrkb"))  # everything acknowledged

    totals = api(core, tenant, "/api/v1/totals")
    assert totals["captured_packets"] == expected["packets"] == PACKETS
    assert totals["captured_bytes"] == expected["frame_bytes"]
    assert totals["parse_errors"] == 0
    assert totals["packets"] == expected["packets"]  # sum over flow records
    assert totals["bytes"] == expected["layer_bytes"]
    assert totals["batches"] >= 5

    talkers = {t["ip"] for t in api(core, tenant, "/api/v1/talkers", limit=100)}
    assets = api(core, tenant, "/api/v1/assets")
    asset_ips = {a["ip"] for a in assets}
    for device in summary["devices"]:
        assert device["ip"] in talkers | asset_ips, device
    services = {p["service"] for p in api(core, tenant, "/api/v1/protocols")}
    assert services  # the flows carry protocol labels the dashboard can chart


def test_same_batches_twice_change_nothing(plant, core, tmp_path):
    path, _, expected = plant
    tenant = provision(core.app, "e2e-dup")
    spool = spooled(path, tmp_path / "spool", "SN-dup")
    shutil.copytree(tmp_path / "spool", tmp_path / "again")
    n = len(spool.pending())

    first = Uplink(core.url, tenant.sensor_token, spool).drain()
    assert first.sent == n and first.duplicates == 0
    def stored():
        return (api(core, tenant, "/api/v1/totals"), api(core, tenant, "/api/v1/flows", limit=1000),
                api(core, tenant, "/api/v1/assets"))

    before = stored()
    assert before[0]["packets"] == expected["packets"]
    assert 0 < len(before[1]) < 1000  # every flow record fits on the page compared

    second = Uplink(core.url, tenant.sensor_token, Spool(tmp_path / "again")).drain()
    assert second.sent == 0 and second.duplicates == n
    assert stored() == before


def test_ledger_lists_every_simulated_device_with_its_role(plant, core, tmp_path):
    path, summary, _ = plant
    tenant = provision(core.app, "e2e-ledger")
    spool = spooled(path, tmp_path / "spool", "SN-ledger")
    assert Uplink(core.url, tenant.sensor_token, spool).drain().sent > 0

    assets = {a["ip"]: a for a in api(core, tenant, "/api/v1/assets")}
    found = {d["name"]: (assets.get(d["ip"], {}).get("role", "missing"), d["role"]) for d in summary["devices"]}
    print("\n".join(f"{name:18} ours {ours:24} simulated {want}" for name, (ours, want) in found.items()))
    for device in summary["devices"]:
        asset = assets[device["ip"]]
        assert asset["mac"] == device["mac"], device
        assert (asset["role"] or "unknown") == device["role"], (device, asset["role"], asset["protocols_served"],
                                                                asset["protocols_used"])
