"""Batches into the spool: economy mode near the data budget (flows as per-pair summaries, totals kept),
and batches a full disk refuses held in memory until it takes them, in order, once each."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from sensor import wire
from sensor.ship import budget, health, producer, spool
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.ship.producer import Producer
from sensor.simulate import write_pcap
from sensor.ship.spool import Spool

COUNTS = ("orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_ip_bytes", "resp_ip_bytes")


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> list[wire.Batch]:
    """About two minutes of plant traffic in 10 s batches."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=40_000, seed=3)
    return list(iter_batches([path], 10.0, sensor="SN-1", observer=Observer()))


def given(batch: wire.Batch) -> wire.Batch:
    """``batch`` with a tables dict of its own: the producer lets a batch's tables go as it encodes it
    (the module's batches are shared)."""
    return replace(batch, tables=dict(batch.tables))


def disk_full(path, data):
    raise OSError(errno.ENOSPC, "No space left on device")


def sums(tables) -> dict[str, int]:
    return {name: sum(sum(t.column(name).to_pylist()) for t in tables) for name in COUNTS}


def spooled(queue: Spool) -> list[wire.Batch]:
    return [wire.decode(b.read()) for b in queue.pending()]


@pytest.mark.parametrize(("used", "allowance", "mode"), [
    (0, 0, "full"), (800, 1000, "full"), (801, 1000, "economy"), (10**9, 1000, "economy")])
def test_economy_past_80_percent_of_the_budget(used, allowance, mode):
    assert budget.mode(used, allowance) == mode


def test_full_mode_spools_the_batches_as_they_are(batches, tmp_path):
    queue = Spool(tmp_path)
    feed = Producer(queue, budget_bytes=10**9, economy_interval=60.0)
    handed = [given(batch) for batch in batches]
    for batch in handed:
        feed.put(batch)
    feed.finish()
    assert [b.batch_id for b in spooled(queue)] == [b.batch_id for b in batches]
    assert all(batch.tables == {} for batch in handed)  # encoded, and let go


def test_economy_mode_sends_events_every_interval_and_flows_as_summaries(batches, tmp_path):
    queue = Spool(tmp_path)
    health.record_upload(queue.dir, 900, delivered=True)  # 90 % of the allowance used
    feed = Producer(queue, budget_bytes=1000, economy_interval=60.0)
    for batch in batches:
        feed.put(given(batch))
    feed.finish()
    out = spooled(queue)
    intervals = [b for b in out if b.rows("flows") == 0]
    summaries = [b for b in out if b.rows("flows")]
    assert [b.batch_id for b in intervals] == [b.batch_id for b in batches]
    for sent, captured in zip(intervals, batches):
        assert sent.counters == captured.counters
        assert sent.tables["events"].equals(captured.tables["events"])
        assert sent.tables["observations"].equals(captured.tables["observations"])
    # one summary per minute, after the minute's intervals; nothing counted twice or lost
    assert [(s.interval_end - s.interval_start).total_seconds() for s in summaries] == [60.0] * len(summaries)
    assert len(summaries) == len({int(b.interval_start.timestamp() // 60) for b in batches})
    assert sums(s.tables["flows"] for s in summaries) == sums(b.tables["flows"] for b in batches)
    assert not any(b.counters.get("packets") for b in summaries)
    rows = [r for s in summaries for r in s.tables["flows"].to_pylist()]
    flows = sum(b.rows("flows") for b in batches)
    assert len(rows) < 0.6 * flows, (len(rows), flows)  # the fold grows with the period (here only a minute)
    assert all(r["uid"].startswith("S") and r["final"] and r["orig_p"] == 0 for r in rows)
    keys = [(s.interval_start, r["vlan"], r["orig_h"], r["resp_h"], r["resp_p"], r["proto"], r["service"],
             *((r["orig_l2_addr"], r["resp_l2_addr"]) if r["proto"] == "l2" else ()))
            for s in summaries for r in s.tables["flows"].to_pylist()]
    assert len(keys) == len(set(keys))  # one record per pair and service


def test_back_to_full_mode_sends_the_summary_so_far(batches, tmp_path):
    queue = Spool(tmp_path)
    health.record_upload(queue.dir, 900, delivered=True)
    feed = Producer(queue, budget_bytes=1000, economy_interval=3600.0)
    feed.put(given(batches[0]))
    feed.budget_bytes = 10**9  # a new month, or a bigger plan
    feed.put(given(batches[1]))
    out = spooled(queue)
    assert [b.batch_id for b in out[::2]] == [batches[0].batch_id, batches[1].batch_id]
    assert [b.rows("flows") for b in out[::2]] == [0, batches[1].rows("flows")]
    assert sums([out[1].tables["flows"]]) == sums([batches[0].tables["flows"]])


def test_a_full_disk_holds_batches_in_memory_then_spools_them_once_in_order(batches, tmp_path, monkeypatch):
    queue = Spool(tmp_path)
    feed = Producer(queue, budget_bytes=10**9, economy_interval=60.0)
    real_write = spool.write_atomic
    monkeypatch.setattr(spool, "write_atomic", disk_full)
    for batch in batches[:3]:
        feed.put(given(batch))
    assert queue.pending() == [] and queue.stats()["write_failures"] == 3
    feed.retry()
    assert queue.stats()["write_failures"] == 4
    monkeypatch.setattr(spool, "write_atomic", real_write)
    feed.put(given(batches[3]))
    assert [b.batch_id for b in queue.pending()] == [b.batch_id for b in batches[:4]]
    feed.retry()
    assert len(queue.pending()) == 4 and not feed.backlog


def test_a_disk_full_for_too_long_drops_the_oldest_and_counts_it(batches, tmp_path, monkeypatch):
    queue = Spool(tmp_path)
    feed = Producer(queue, budget_bytes=10**9, economy_interval=60.0)
    monkeypatch.setattr(spool, "write_atomic", disk_full)
    sizes = [len(wire.encode(b)) for b in batches[:3]]
    monkeypatch.setattr(producer, "MAX_BACKLOG", sizes[1] + sizes[2])
    for batch in batches[:3]:
        feed.put(given(batch))
    assert [batch_id for batch_id, _ in feed.backlog] == [b.batch_id for b in batches[1:3]]
    assert (queue.stats()["evicted"], queue.stats()["evicted_bytes"]) == (1, sizes[0])
