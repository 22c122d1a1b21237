"""While the store is busy, a group's leader waits for the uploads that keep coming, so a group's fixed
cost (its inserts and their parts) is paid by more batches; an idle store answers at once (real chDB,
real threads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from coretest import T0, flow, make_batch

from core.ingest import Ingestor
from core.ingest.group import GroupCommit
from sensor import wire

SENSORS = 6


def body(sensor: int, minute: int) -> bytes:
    return wire.encode(make_batch([flow(orig_h=f"10.7.{minute}.{sensor}")], start=T0 + timedelta(minutes=minute)))


def test_uploads_sent_again_after_a_shared_group_join_one_group(client):
    """Six sensors' first batches go in a shared group; their next batches, sent one after another
    0.1 s apart (as answered sensors do), are stored as one group of six, not as they came."""
    store, tenant = client.app.state.clickhouse, 47
    ingestor, groups = Ingestor(store, linger=10, quiet=2), []
    ingestor.observe_group = groups.append
    sensors = [tenant * 100 + i for i in range(SENSORS)]
    release, real_store = threading.Event(), ingestor._group._store

    def first_held(batches):  # the first group (one batch) waits until the others queue behind it
        if not groups:
            release.wait(20)
        real_store(batches)
    ingestor._group._store = first_held

    with ThreadPoolExecutor(SENSORS) as pool:
        first = [pool.submit(ingestor.ingest, tenant, s, body(i, 0)) for i, s in enumerate(sensors)]
        deadline = time.monotonic() + 20
        while len(ingestor._group._queue) < SENSORS - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        assert [f.result().status for f in first] == ["stored"] * SENSORS
        assert groups == [1, SENSORS - 1]

        again = []
        for i, s in enumerate(sensors):
            again.append(pool.submit(ingestor.ingest, tenant, s, body(i, 1)))
            time.sleep(0.1)
        assert [f.result().status for f in again] == ["stored"] * SENSORS
    assert groups == [1, SENSORS - 1, SENSORS]
    ingestor.close()


def test_a_leader_stops_waiting_once_nothing_came_for_quiet_seconds_or_after_linger():
    stored: list[list[int]] = []
    group = GroupCommit(stored.append, lambda item: 1, max_size=1000, linger=2, quiet=0.4)

    def submit_all(items: list[int], every: float) -> float:
        """Submit ``items`` from threads ``every`` s apart; the seconds until all are stored."""
        began = time.monotonic()
        with ThreadPoolExecutor(len(items)) as pool:
            for item in items:
                pool.submit(group.submit, item)
                time.sleep(every)
        return time.monotonic() - began

    assert submit_all([1], 0) < 0.3  # nothing stored together before: no wait
    group._shared = True  # as after a group of several
    assert submit_all([2, 3], 0.1) >= 0.4  # waited for more until 0.4 s passed without any
    assert stored[-1] == [2, 3]
    submit_all(list(range(10, 34)), 0.1)  # items kept coming for 2.4 s: stored after 2 s, the rest next
    assert stored[:2] == [[1], [2, 3]] and len(stored) == 4
    assert 10 < len(stored[2]) < 24 and [*stored[2], *stored[3]] == list(range(10, 34))


def test_a_leader_waits_no_longer_once_the_group_is_full():
    stored: list[list[int]] = []
    group = GroupCommit(stored.append, lambda item: 1, max_size=3, linger=30, quiet=30)
    group._shared = True
    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        for item in (1, 2, 3):
            pool.submit(group.submit, item)
    assert time.monotonic() - began < 5 and stored == [[1, 2, 3]]
