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
from core.ingest.budget import ByteBudget
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


def submit_all(group: GroupCommit, items: list[int], every: float) -> float:
    """Submit ``items`` from threads ``every`` s apart; the seconds until all are stored."""
    began = time.monotonic()
    with ThreadPoolExecutor(len(items)) as pool:
        for item in items:
            pool.submit(group.submit, item)
            time.sleep(every)
    return time.monotonic() - began


def test_a_leader_stops_waiting_once_nothing_came_for_quiet_seconds_or_after_linger():
    stored: list[list[int]] = []
    group = GroupCommit(stored.append, lambda item: 1, max_size=1000, linger=1.5, quiet=1.0)
    assert submit_all(group, [1], 0) < 0.5  # nothing stored together before: no wait
    group._shared_until = float("inf")  # as just after a group of several
    assert submit_all(group, [2, 3], 0.1) >= 1.0  # waited for more until 1 s passed without any
    assert sorted(stored[-1]) == [2, 3]
    submit_all(group, list(range(10, 30)), 0.1)  # items kept coming for 2 s: stored after 1.5 s, the rest next
    assert len(stored) == 4 and 10 < len(stored[2]) < 20
    assert sorted([*stored[2], *stored[3]]) == list(range(10, 30))


def test_a_leader_waits_no_longer_once_the_group_is_full():
    stored: list[list[int]] = []
    group = GroupCommit(stored.append, lambda item: 1, max_size=3, linger=30, quiet=30)
    group._shared_until = float("inf")
    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        for item in (1, 2, 3):
            pool.submit(group.submit, item)
    assert time.monotonic() - began < 5 and len(stored) == 1 and sorted(stored[0]) == [1, 2, 3]


def test_a_leader_waits_for_nothing_that_cannot_queue():
    """Uploads waiting for the byte budget the queued ones hold cannot join: the leader stores at once."""
    stored: list[list[int]] = []
    group = GroupCommit(stored.append, lambda item: 1, max_size=1000, linger=30, quiet=30, more_can_come=lambda: False)
    group._shared_until = float("inf")
    assert submit_all(group, [1], 0) < 5 and stored == [[1]]

    budget, entered = ByteBudget(10), threading.Event()

    def wait_for_room():
        with budget.held(5):
            entered.set()
    with budget.held(10):
        waiter = threading.Thread(target=wait_for_room)
        waiter.start()
        deadline = time.monotonic() + 10
        while not budget.blocked and time.monotonic() < deadline:
            time.sleep(0.01)
        assert budget.blocked and not entered.is_set()
    waiter.join(10)
    assert entered.is_set() and not budget.blocked


def test_an_idle_spell_after_a_shared_group_costs_the_next_upload_no_wait():
    stored: list[list[int]] = []
    first_in, release = threading.Event(), threading.Event()

    def store(items):
        if not stored:  # the first group waits until the others queue behind it
            first_in.set()
            release.wait(10)
        stored.append(items)
    group = GroupCommit(store, lambda item: 1, max_size=1000, linger=30, quiet=1.0)
    with ThreadPoolExecutor(3) as pool:
        pool.submit(group.submit, 1)
        first_in.wait(10)
        for item in (2, 3):
            pool.submit(group.submit, item)
        deadline = time.monotonic() + 10
        while len(group._queue) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
    assert stored == [[1], [2, 3]] or stored == [[1], [3, 2]]  # a group of several
    time.sleep(1.2)  # idle longer than quiet
    assert submit_all(group, [4], 0) < 0.5 and stored[-1] == [4]
