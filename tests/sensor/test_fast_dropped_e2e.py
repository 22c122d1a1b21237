"""Events dropped over the sensor's per-interval cap, end to end: each batch header counts them, the
core stores the count with the batch's other capture counters, the sensor's health report carries
it and the sensors page shows it."""

from __future__ import annotations

import pytest
from counterpath import carried, core, reported, ship, stored  # noqa: F401 (core: the fixture)

from sensor.meter import applayer, fast_modbus, fast_s7comm, pipeline
from sensor.simulate import write_pcap

CAP = 25  # events per interval, on both the compiled and the Python paths


@pytest.fixture(scope="module")
def shipped(core, tmp_path_factory):
    """A small plant through a sensor with a tiny event cap, spooled and uploaded: (tenant, spool, batches)."""
    capture = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(capture, packets=6000, seed=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_modbus, "MAX_EVENTS", CAP)
        patch.setattr(fast_s7comm, "MAX_EVENTS", CAP)
        patch.setattr(applayer, "MAX_EVENTS", CAP)
        batches = list(pipeline.iter_batches([capture], 60.0, sensor="SN-dropping"))
    return (*ship(core, batches, "dropping", tmp_path_factory.mktemp("spool")), batches)


def test_the_core_stores_the_dropped_events_each_batch_reports(core, shipped):
    tenant, _, batches = shipped
    sent = carried(batches, "dropped_events")
    assert sent > 100
    assert stored(core, tenant, "dropped_events") == {"total": sent, "batches": len(batches)}


def test_the_health_report_and_the_sensors_page_show_the_dropped_events(core, shipped):
    tenant, spool, batches = shipped
    count, listed, pages = reported(core, tenant, spool, "dropped_events")
    assert count == batches[-1].counters["dropped_events"] > 0 and listed == [count]
    assert f"events dropped: {count:,}" in pages["en"] and f"破棄したイベント: {count:,}" in pages["ja"]
