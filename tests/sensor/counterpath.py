"""A batch header counter's way end to end, for the tests of one counter each: batches spooled
and uploaded to a live core as a sensor does, then what the core stored, what the sensor's health
report carries and what the sensors page shows."""

from __future__ import annotations

import re

import httpx
import pytest
from coretest import PASSWORD, LiveServer, Tenant, bearer, provision
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from sensor import wire
from sensor.ship import health
from sensor.ship.spool import Spool
from sensor.ship.uplink import Uplink


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """A live core of the module's own (a test module imports this fixture by name)."""
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("core"))))) as server:
        yield server


def ship(core, batches: list[wire.Batch], tenant_name: str, spool_dir) -> tuple[Tenant, Spool]:
    """Spool ``batches`` (noting each in the health state, as the sensor does) and upload them all
    to ``core`` as a new tenant's sensor."""
    tenant = provision(core.app, tenant_name)
    spool = Spool(spool_dir)
    for batch in batches:
        spool.put(batch.batch_id, wire.encode(batch))
        health.record_batch(spool.dir, batch)
    uplink = Uplink(core.url, tenant.sensor_token, spool)
    try:
        report = uplink.drain()
    finally:
        uplink.close()
    assert report.sent == len(batches) and not report.rejected
    return tenant, spool


def carried(batches: list[wire.Batch], counter: str) -> int:
    """The counter's sum over ``batches``, each header checked to carry it through decode."""
    for batch in batches:
        assert wire.decode(wire.encode(batch)).counters[counter] == batch.counters[counter]
    return sum(batch.counters[counter] for batch in batches)


def stored(core, tenant: Tenant, counter: str) -> dict:
    """The counter's sum over the tenant's stored batches, and their number."""
    [row] = core.app.state.clickhouse.query(
        f"SELECT sum({counter}) AS total, count() AS batches FROM batches FINAL WHERE tenant_id = {{t:UInt32}}",
        {"t": tenant.id})
    return row


def reported(core, tenant: Tenant, spool: Spool, counter: str) -> tuple[int, list[int], dict[str, str]]:
    """The counter in the sensor's health report, as the core's sensors API lists it after the
    report is sent, and the sensors page per language (en, ja)."""
    report = health.snapshot(spool, budget_bytes=10**9)
    r = httpx.post(core.url + "/api/v1/sensor/health", headers=bearer(tenant.sensor_token), json=report, timeout=30)
    assert r.status_code in (200, 204), r.text
    listed = httpx.get(core.url + "/api/v1/sensors", headers=bearer(tenant.api_token), timeout=30).json()
    pages = {}
    for lang in ("en", "ja"):
        with httpx.Client(base_url=core.url, timeout=30, headers={"Accept-Language": lang}) as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)[1]
            browser.post("/login", data={"csrf_token": token, "email": tenant.email, "password": PASSWORD})
            pages[lang] = browser.get("/sensors").text
    return report[counter], [s["health"][counter] for s in listed], pages
