"""Evictions on the wire, end to end: a sensor whose flow table is bounded below the capture's
working set counts the flows it reported early in each batch header; the core stores the count
with the batch's other capture counters, the sensor's health report carries it, and the sensors
page shows it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from counterpath import carried, core, reported, ship, stored  # noqa: F401 (core: the fixture)

from bench.concurrent_flows import write
from sensor import wire
from sensor.meter import pipeline
from sensor.site.config import SensorConfig

FLOWS, MAX_FLOWS = 3000, 512


@pytest.fixture(scope="module")
def shipped(core, tmp_path_factory):
    """The busy capture through a bounded sensor, spooled and uploaded: (tenant, spool, batches)."""
    capture = tmp_path_factory.mktemp("busy") / "busy.pcap"
    write(capture, FLOWS, rounds=2)
    batches = list(pipeline.iter_batches([capture], 60.0, sensor="SN-evicting", max_flows=MAX_FLOWS))
    return (*ship(core, batches, "evicting", tmp_path_factory.mktemp("spool")), batches)


def test_the_core_stores_the_evictions_each_batch_reports(core, shipped):
    tenant, _, batches = shipped
    sent = carried(batches, "evicted_flows")
    assert sent > FLOWS - MAX_FLOWS  # the second round meets flows the first evicted
    assert stored(core, tenant, "evicted_flows") == {"total": sent, "batches": len(batches)}


def test_the_health_report_and_the_sensors_page_show_the_evictions(core, shipped):
    tenant, spool, batches = shipped
    count, listed, pages = reported(core, tenant, spool, "evicted_flows")
    assert count == batches[-1].counters["evicted_flows"] > 0 and listed == [count]
    assert f"flows evicted early: {count:,}" in pages["en"] and f"早期出力フロー: {count:,}" in pages["ja"]


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
