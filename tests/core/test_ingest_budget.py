"""Uploads waiting for their group hold at most a budget of bytes (their bodies and parsed tables), not
a count of threads: past it an upload waits, parsed, before it joins a group (real chDB, real threads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from runtest import eventually
from test_ingest_groups import bodies_for, totals

from core.ingest import Ingestor
from core.ingest.budget import ByteBudget
from sensor import wire


def test_uploads_past_the_byte_budget_wait_before_their_group_then_are_stored(client):
    store, tenant = client.app.state.clickhouse, 47
    bodies = bodies_for(tenant)
    size = max(len(b) + sum(t.get_total_buffer_size() for t in wire.parse(b).tables.values())
               for b in bodies.values())
    ingestor = Ingestor(store, waiting_bytes=3 * size)  # the group being stored holds one, two more queue
    real, release = ingestor._group._store, threading.Event()

    def held(group):
        release.wait(30)
        real(group)
    ingestor._group._store = held
    with ThreadPoolExecutor(len(bodies)) as pool:
        outcomes = [pool.submit(ingestor.ingest, tenant, sensor, body) for sensor, body in bodies.items()]
        eventually(lambda: len(ingestor._group._queue) == 2)
        time.sleep(0.5)  # the others would have queued by now
        assert len(ingestor._group._queue) == 2 and ingestor.waiting.in_use <= 3 * size
        release.set()
        assert [o.result(60).status for o in outcomes] == ["stored"] * len(bodies)
    assert ingestor.waiting.in_use == 0
    assert totals(store, tenant)["batches"] == len(bodies)


def test_a_batch_larger_than_the_budget_waits_for_the_others_and_goes_alone():
    budget, order = ByteBudget(10), []

    def big():
        with budget.held(20):
            order.append(("big", budget.in_use))
    with budget.held(4):
        taker = threading.Thread(target=big)
        taker.start()
        time.sleep(0.2)
        order.append(("small", budget.in_use))
    taker.join(5)
    assert order == [("small", 4), ("big", 20)] and budget.in_use == 0
