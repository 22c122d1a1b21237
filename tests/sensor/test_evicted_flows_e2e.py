"""Evictions on the wire, end to end: a sensor whose flow table is bounded below the capture's
working set counts the flows it reported early in each batch header; the core stores the count
with the batch's other capture counters, the sensor's health report carries it, and the sensors
page shows it."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import httpx
import pytest
from coretest import PASSWORD, LiveServer, bearer, provision

from bench.concurrent_flows import write
from core.api.app import create_app
from core.config import Settings
from sensor import wire
from sensor.meter import pipeline
from sensor.ship import health
from sensor.ship.spool import Spool
from sensor.ship.uplink import Uplink
from sensor.site.config import SensorConfig

FLOWS, MAX_FLOWS = 3000, 512


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=tmp_path_factory.mktemp("core")))) as server:
        yield server


@pytest.fixture(scope="module")
def shipped(core, tmp_path_factory):
    """The busy capture through a bounded sensor, spooled and uploaded: (tenant, spool, batches)."""
    capture = tmp_path_factory.mktemp("busy") / "busy.pcap"
    write(capture, FLOWS, rounds=2)
    tenant = provision(core.app, "evicting")
    spool = Spool(tmp_path_factory.mktemp("spool"))
    batches = list(pipeline.iter_batches([capture], 60.0, sensor="SN-evicting", max_flows=MAX_FLOWS))
    for batch in batches:
        spool.put(batch.batch_id, wire.encode(batch))
        health.record_batch(spool.dir, batch)
    uplink = Uplink(core.url, tenant.sensor_token, spool)
    try:
        report = uplink.drain()
    finally:
        uplink.close()
    assert report.sent == len(batches) and not report.rejected
    return tenant, spool, batches


def test_the_core_stores_the_evictions_each_batch_reports(core, shipped):
    tenant, _, batches = shipped
    sent = sum(b.counters["evicted_flows"] for b in batches)
    assert sent > FLOWS - MAX_FLOWS  # the second round meets flows the first evicted
    for batch in batches:  # the header carries the count through decode
        assert wire.decode(wire.encode(batch)).counters["evicted_flows"] == batch.counters["evicted_flows"]
    rows = core.app.state.clickhouse.query(
        "SELECT sum(evicted_flows) AS evicted, count() AS batches FROM batches FINAL WHERE tenant_id = {t:UInt32}",
        {"t": tenant.id})
    assert rows == [{"evicted": sent, "batches": len(batches)}]


def test_the_health_report_and_the_sensors_page_show_the_evictions(core, shipped):
    tenant, spool, batches = shipped
    report = health.snapshot(spool, budget_bytes=10**9)
    assert report["evicted_flows"] == batches[-1].counters["evicted_flows"] > 0
    r = httpx.post(core.url + "/api/v1/sensor/health", headers=bearer(tenant.sensor_token), json=report, timeout=30)
    assert r.status_code in (200, 204), r.text
    listed = httpx.get(core.url + "/api/v1/sensors", headers=bearer(tenant.api_token), timeout=30).json()
    assert [s["health"]["evicted_flows"] for s in listed] == [report["evicted_flows"]]
    with httpx.Client(base_url=core.url, timeout=30, headers={"Accept-Language": "en"}) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)[1]
        browser.post("/login", data={"csrf_token": token, "email": tenant.email, "password": PASSWORD})
        page = browser.get("/sensors").text
    assert f"flows evicted early: {report['evicted_flows']:,}" in page


def test_a_header_from_before_the_counter_reads_as_no_evictions(monkeypatch):
    stamp = datetime(2026, 1, 5, tzinfo=timezone.utc)
    batch = wire.Batch(stamp, stamp, {name: wire.empty_table(name) for name in wire.TABLES}, {"packets": 1})
    monkeypatch.setattr(wire, "COUNTERS", tuple(c for c in wire.COUNTERS if c != "evicted_flows"))
    older = wire.encode(batch)  # as a sensor from before the counter writes its header
    monkeypatch.undo()
    assert wire.decode(older).counters == dict.fromkeys(wire.COUNTERS, 0) | {"packets": 1}


def test_the_run_config_bounds_the_flow_table():
    base = dict(core_url="https://core.example", token="t", sensor_id=1, serial="SN-1", interface="eth1")
    assert SensorConfig(**base).max_flows == 500_000
    with pytest.raises(ValueError, match="max_flows must be positive"):
        SensorConfig(**base, max_flows=0)
