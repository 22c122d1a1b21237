"""Events dropped over the sensor's per-interval cap, end to end: each batch header counts them, the
core stores the count with the batch's other capture counters, the sensor's health report carries
it and the sensors page shows it."""

from __future__ import annotations

import re

import httpx
import pytest
from coretest import PASSWORD, LiveServer, bearer, provision

from core.api.app import create_app
from core.config import Settings
from sensor import wire
from sensor.meter import applayer, fast_modbus, pipeline
from sensor.ship import health
from sensor.ship.spool import Spool
from sensor.ship.uplink import Uplink
from sensor.simulate import write_pcap

CAP = 25  # events per interval, on both the compiled and the Python paths


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=tmp_path_factory.mktemp("core")))) as server:
        yield server


@pytest.fixture(scope="module")
def shipped(core, tmp_path_factory):
    """A small plant through a sensor with a tiny event cap, spooled and uploaded: (tenant, spool, batches)."""
    capture = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(capture, packets=6000, seed=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_modbus, "MAX_EVENTS", CAP)
        patch.setattr(applayer, "MAX_EVENTS", CAP)
        batches = list(pipeline.iter_batches([capture], 60.0, sensor="SN-dropping"))
    tenant = provision(core.app, "dropping")
    spool = Spool(tmp_path_factory.mktemp("spool"))
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


def test_the_core_stores_the_dropped_events_each_batch_reports(core, shipped):
    tenant, _, batches = shipped
    sent = sum(b.counters["dropped_events"] for b in batches)
    assert sent > 100
    for batch in batches:  # the header carries the count through decode
        assert wire.decode(wire.encode(batch)).counters["dropped_events"] == batch.counters["dropped_events"]
    rows = core.app.state.clickhouse.query(
        "SELECT sum(dropped_events) AS dropped, count() AS batches FROM batches FINAL WHERE tenant_id = {t:UInt32}",
        {"t": tenant.id})
    assert rows == [{"dropped": sent, "batches": len(batches)}]


def test_the_health_report_and_the_sensors_page_show_the_dropped_events(core, shipped):
    tenant, spool, batches = shipped
    report = health.snapshot(spool, budget_bytes=10**9)
    assert report["dropped_events"] == batches[-1].counters["dropped_events"] > 0
    r = httpx.post(core.url + "/api/v1/sensor/health", headers=bearer(tenant.sensor_token), json=report, timeout=30)
    assert r.status_code in (200, 204), r.text
    listed = httpx.get(core.url + "/api/v1/sensors", headers=bearer(tenant.api_token), timeout=30).json()
    assert [s["health"]["dropped_events"] for s in listed] == [report["dropped_events"]]
    for lang, text in (("en", "events dropped: {:,}"), ("ja", "破棄したイベント: {:,}")):
        with httpx.Client(base_url=core.url, timeout=30, headers={"Accept-Language": lang}) as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)[1]
            browser.post("/login", data={"csrf_token": token, "email": tenant.email, "password": PASSWORD})
            page = browser.get("/sensors").text
        assert text.format(report["dropped_events"]) in page
