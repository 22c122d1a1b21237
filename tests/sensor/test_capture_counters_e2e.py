"""Capture counters added to the batch header, end to end: flows a bounded flow table reported early
(``evicted_flows``) and events dropped over the per-interval cap (``dropped_events``). Each batch
header counts them, the core stores the count with the batch's other capture counters, the sensor's
health report carries it and the sensors page shows it; a header from before a counter reads 0."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from counterpath import carried, core, reported, ship, stored  # noqa: F401 (core: the fixture)

from bench.concurrent_flows import write
from sensor import wire
from sensor.meter import applayer, fast_modbus, fast_s7comm, pipeline
from sensor.simulate import write_pcap
from sensor.site.config import SensorConfig

FLOWS, MAX_FLOWS = 3000, 512
CAP = 25  # events per interval, on both the compiled and the Python paths


def evicting(folder) -> list[wire.Batch]:
    """A busy capture through a flow table bounded below its working set."""
    capture = folder / "busy.pcap"
    write(capture, FLOWS, rounds=2)
    return list(pipeline.iter_batches([capture], 60.0, sensor="SN-evicted_flows", max_flows=MAX_FLOWS))


def dropping(folder) -> list[wire.Batch]:
    """A small plant through a sensor with a tiny event cap."""
    capture = folder / "plant.pcap"
    write_pcap(capture, packets=6000, seed=4)
    with pytest.MonkeyPatch.context() as patch:
        for module in (fast_modbus, fast_s7comm, applayer):
            patch.setattr(module, "MAX_EVENTS", CAP)
        return list(pipeline.iter_batches([capture], 60.0, sensor="SN-dropped_events"))


# counter → (batches that make it count, the least it must sum to, its label on the page in en and ja)
CASES = {
    "evicted_flows": (evicting, FLOWS - MAX_FLOWS, "flows evicted early", "早期出力フロー"),  # round 2 meets evicted flows
    "dropped_events": (dropping, 100, "events dropped", "破棄したイベント"),
}


@pytest.fixture(scope="module", params=list(CASES))
def shipped(request, core, tmp_path_factory):
    """The counter's capture through the sensor, spooled and uploaded: (counter, tenant, spool, batches)."""
    counter = request.param
    batches = CASES[counter][0](tmp_path_factory.mktemp(counter))
    return (counter, *ship(core, batches, counter.replace("_", "-"), tmp_path_factory.mktemp("spool")), batches)


def test_the_core_stores_the_count_each_batch_reports(core, shipped):
    counter, tenant, _, batches = shipped
    sent = carried(batches, counter)
    assert sent > CASES[counter][1]
    assert stored(core, tenant, counter) == {"total": sent, "batches": len(batches)}


def test_the_health_report_and_the_sensors_page_show_the_count(core, shipped):
    counter, tenant, spool, batches = shipped
    count, listed, pages = reported(core, tenant, spool, counter)
    assert count == batches[-1].counters[counter] > 0 and listed == [count]
    en, ja = CASES[counter][2:]
    assert f"{en}: {count:,}" in pages["en"] and f"{ja}: {count:,}" in pages["ja"]


@pytest.mark.parametrize("counter", list(CASES))
def test_a_header_from_before_the_counter_reads_as_none(monkeypatch, counter):
    stamp = datetime(2026, 1, 5, tzinfo=timezone.utc)
    batch = wire.Batch(stamp, stamp, {name: wire.empty_table(name) for name in wire.TABLES}, {"packets": 1})
    monkeypatch.setattr(wire, "COUNTERS", tuple(c for c in wire.COUNTERS if c != counter))
    older = wire.encode(batch)  # as a sensor from before the counter writes its header
    monkeypatch.undo()
    assert wire.decode(older).counters == dict.fromkeys(wire.COUNTERS, 0) | {"packets": 1}


def test_the_run_config_bounds_the_flow_table():
    base = dict(core_url="https://core.example", token="t", sensor_id=1, serial="SN-1", interface="eth1")
    assert SensorConfig(**base).max_flows == 500_000
    with pytest.raises(ValueError, match="max_flows must be positive"):
        SensorConfig(**base, max_flows=0)
