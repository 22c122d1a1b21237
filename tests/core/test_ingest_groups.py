"""Group commit: batches arriving together are stored with one insert per table, each exactly once,
through failures of one batch and crashes of the whole group (real chDB, real threads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from coretest import T0, flow, make_batch

from core.ingest import STEPS, Ingestor
from sensor import wire

SENSORS = 12


def bodies_for(tenant: int) -> dict[int, bytes]:
    """One batch per sensor (sensor ids tenant*100 + i), each with its own flows and bytes."""
    return {tenant * 100 + i: wire.encode(make_batch(
        [flow(orig_h=f"10.{tenant}.0.{i + 1}", nbytes=100 * (i + 1)), flow(orig_h=f"10.{tenant}.1.{i + 1}")],
        start=T0 + timedelta(minutes=i))) for i in range(SENSORS)}


def expected_bytes(bodies: dict[int, bytes]) -> int:
    flows = [wire.decode(b).tables["flows"] for b in bodies.values()]
    return sum(int(pc.sum(f["orig_ip_bytes"]).as_py() + pc.sum(f["resp_ip_bytes"]).as_py()) for f in flows)


def totals(store, tenant: int) -> dict:
    where = {"t": tenant}
    return {
        "flows": store.query("SELECT count() AS n FROM flows WHERE tenant_id = {t:UInt32}", where)[0]["n"],
        "events": store.query("SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32}", where)[0]["n"],
        "batches": store.query("SELECT count() AS n FROM batches FINAL WHERE tenant_id = {t:UInt32}", where)[0]["n"],
        "rolled_up_bytes": store.query("SELECT sum(bytes) AS b FROM traffic_1m WHERE tenant_id = {t:UInt32}",
                                       where)[0]["b"],
    }


def raw_bytes(store, tenant: int) -> int:
    return store.query("SELECT sum(sign * (orig_ip_bytes + resp_ip_bytes)) AS b FROM flows WHERE tenant_id = {t:UInt32}",
                       {"t": tenant})[0]["b"]


def held_until_queued(store, ingestor: Ingestor, waiting: int):
    """An insert_arrow whose first call waits until ``waiting`` batches queue behind it (so they
    form one group), counting the inserts per table."""
    real, calls, first = store.insert_arrow, {}, threading.Event()

    def insert_arrow(table, data, settings=None):
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 20
            while len(ingestor._group._queue) < waiting and time.monotonic() < deadline:
                time.sleep(0.01)
        calls[table] = calls.get(table, 0) + 1
        real(table, data, settings)
    return insert_arrow, calls


def ingest_all(ingestor: Ingestor, tenant: int, bodies: dict[int, bytes]) -> dict[int, object]:
    def one(sensor):
        try:
            return ingestor.ingest(tenant, sensor, bodies[sensor]).status
        except BaseException as error:  # noqa: BLE001 - the test looks at what each caller got
            return error
    with ThreadPoolExecutor(len(bodies)) as pool:
        return dict(zip(bodies, pool.map(one, bodies)))


def test_batches_arriving_together_are_one_insert_per_table_and_each_stored_once(client, monkeypatch):
    store, tenant = client.app.state.clickhouse, 41
    ingestor, bodies = Ingestor(store), bodies_for(tenant)
    insert_arrow, calls = held_until_queued(store, ingestor, SENSORS - 1)
    monkeypatch.setattr(store, "insert_arrow", insert_arrow)
    assert set(ingest_all(ingestor, tenant, bodies).values()) == {"stored"}
    # the first batch alone, then the eleven that queued meanwhile as one group
    assert calls == {"events": 2, "observations": 2, "flows": 2, "batches": 2}
    want = {"flows": 2 * SENSORS, "events": SENSORS, "batches": SENSORS, "rolled_up_bytes": expected_bytes(bodies)}
    assert totals(store, tenant) == want
    monkeypatch.undo()
    assert set(ingest_all(Ingestor(store), tenant, bodies).values()) == {"duplicate"}
    assert totals(store, tenant) == want


def test_a_batch_that_fails_in_a_group_fails_alone(client, monkeypatch):
    store, tenant = client.app.state.clickhouse, 42
    ingestor, bodies = Ingestor(store), bodies_for(tenant)
    poison = tenant * 100 + 5
    held, _ = held_until_queued(store, ingestor, SENSORS - 1)

    def insert_arrow(table, data, settings=None):
        if table == "flows" and poison in data["sensor_id"].to_pylist():
            raise RuntimeError("this batch cannot be stored")
        held(table, data, settings)
    monkeypatch.setattr(store, "insert_arrow", insert_arrow)
    outcome = ingest_all(ingestor, tenant, bodies)
    assert isinstance(outcome.pop(poison), RuntimeError)
    assert set(outcome.values()) == {"stored"}
    good = {s: b for s, b in bodies.items() if s != poison}
    assert totals(store, tenant) == {"flows": 2 * (SENSORS - 1), "events": SENSORS - 1, "batches": SENSORS - 1,
                                     "rolled_up_bytes": expected_bytes(good)}
    assert raw_bytes(store, tenant) == expected_bytes(good)

    monkeypatch.undo()  # the store works again: the sensor's resend is stored
    assert ingestor.ingest(tenant, poison, bodies[poison]).status == "stored"
    assert totals(store, tenant)["rolled_up_bytes"] == expected_bytes(bodies) == raw_bytes(store, tenant)


class Crash(BaseException):
    """The process dying: nothing after it runs, no rows are taken out."""


@pytest.mark.parametrize("step", [s for s in STEPS if s.startswith("after:") and s != "after:batches"])
def test_a_group_crashed_mid_store_is_stored_once_from_resends_in_other_groups(client, monkeypatch, step):
    store, tenant = client.app.state.clickhouse, 50 + STEPS.index(step)
    bodies = bodies_for(tenant)
    crashing = Ingestor(store)
    held, _ = held_until_queued(store, crashing, SENSORS - 1)
    monkeypatch.setattr(store, "insert_arrow", held)
    crashed = {"group": False}

    def step_hook(at):
        if at == step and len(crashing._group._queue) == 0 and not crashed["group"]:
            crashed["group"] = True  # the group of eleven, partly stored
            raise Crash(at)
    monkeypatch.setattr(crashing, "_step", step_hook)
    outcome = ingest_all(crashing, tenant, bodies)
    assert crashed["group"] and sum(isinstance(o, Crash) for o in outcome.values()) == SENSORS - 1
    monkeypatch.undo()

    # after a restart (new locks, new groups) the sensors resend in two groups of another make-up,
    # but one sensor is gone: recovery takes its partial rows out
    restarted = Ingestor(store)
    crashed_ones = [s for s, o in outcome.items() if isinstance(o, Crash)]
    gone = crashed_ones.pop()
    for part in (crashed_ones[::2], crashed_ones[1::2]):
        assert set(ingest_all(restarted, tenant, {s: bodies[s] for s in part}).values()) == {"stored"}
    assert restarted.recover(older_than=timedelta(0)) == 1
    kept = {s: b for s, b in bodies.items() if s != gone}
    assert totals(store, tenant) == {"flows": 2 * len(kept), "events": len(kept), "batches": len(kept),
                                     "rolled_up_bytes": expected_bytes(kept)}
    assert raw_bytes(store, tenant) == expected_bytes(kept)
    # and when it comes back, its batch is stored whole
    assert restarted.ingest(tenant, gone, bodies[gone]).status == "stored"
    assert totals(store, tenant) == {"flows": 2 * SENSORS, "events": SENSORS, "batches": SENSORS,
                                     "rolled_up_bytes": expected_bytes(bodies)}
    assert raw_bytes(store, tenant) == expected_bytes(bodies)


def test_batches_with_bad_values_in_a_group_are_refused_alone(client, monkeypatch):
    """A group's values are checked together (wire.complete); the batches that fail get their own
    reason and the rest of the group is stored as one insert per table, with the columns derived as
    decoding each alone derives them."""
    store, tenant = client.app.state.clickhouse, 43
    ingestor, bodies = Ingestor(store), bodies_for(tenant)
    bad_address, bad_time = tenant * 100 + 5, tenant * 100 + 8
    bodies[bad_address] = wire.encode(make_batch([flow(orig_h="10.0.0.300")], start=T0 + timedelta(minutes=5)))
    late = make_batch(start=T0 + timedelta(minutes=8))  # an event inside another batch's interval, not its own
    late.tables["events"] = late.tables["events"].set_column(
        0, "ts", pc.add(late.tables["events"]["ts"], pa.scalar(timedelta(minutes=3))))
    late.tables["events"] = late.tables["events"].set_column(1, "ts_end", late.tables["events"]["ts"])
    bodies[bad_time] = wire.encode(late)
    insert_arrow, calls = held_until_queued(store, ingestor, SENSORS - 1)
    monkeypatch.setattr(store, "insert_arrow", insert_arrow)
    outcome = ingest_all(ingestor, tenant, bodies)
    refused = {s: outcome.pop(s) for s in (bad_address, bad_time)}
    assert [(type(e), e.reason) for e in refused.values()] == [(wire.WireError, "bad_value"), (wire.WireError, "bad_time")]
    assert "10.0.0.300" in str(refused[bad_address]) and "events.ts" in str(refused[bad_time])
    assert set(outcome.values()) == {"stored"}
    assert calls == {"events": 2, "observations": 2, "flows": 2, "batches": 2}  # no batch stored again alone
    good = {s: b for s, b in bodies.items() if s not in refused}
    assert totals(store, tenant) == {"flows": 2 * len(good), "events": len(good), "batches": len(good),
                                     "rolled_up_bytes": expected_bytes(good)}
    stored = store.query("SELECT uid, community_id, duration FROM flows WHERE tenant_id = {t:UInt32} "
                         "ORDER BY uid", {"t": tenant})
    alone = sorted((r["uid"], r["community_id"], r["duration"]) for b in good.values()
                   for r in wire.decode(b).tables["flows"].select(["uid", "community_id", "duration"]).to_pylist())
    assert [(r["uid"], r["community_id"], r["duration"]) for r in stored] == alone


@pytest.mark.parametrize("crash, rows_left", [("DELETE", 4), ("removed", 0)], ids=["negated", "deleted"])
def test_a_batch_resent_after_a_crash_inside_its_take_out_is_stored_whole(client, monkeypatch, crash, rows_left):
    """The core dies during a take-out: its rows re-inserted negated, not yet deleted (every signed count
    says 0), or deleted, not yet logged as removed. The resend must store them again, not count them as
    stored nor insert them under the attempt's tokens (dropped as duplicates of what was deleted)."""
    store, tenant = client.app.state.clickhouse, 45 + rows_left
    sensor = tenant * 100
    body = bodies_for(tenant)[sensor]
    failing = Ingestor(store)
    real_command, real_rows = store.command, store.insert_rows

    def step(at):
        if at == "before:batches":
            raise OSError("the store went away")

    def command(sql, *args, **kwargs):
        if sql.startswith(crash):
            raise Crash(sql)
        return real_command(sql, *args, **kwargs)

    def insert_rows(table, rows):
        if table == "ingest_intents" and rows[0]["state"] == crash:
            raise Crash(table)
        return real_rows(table, rows)
    monkeypatch.setattr(failing, "_step", step)
    monkeypatch.setattr(store, "command", command)
    monkeypatch.setattr(store, "insert_rows", insert_rows)
    with pytest.raises(Crash):
        failing.ingest(tenant, sensor, body)
    monkeypatch.undo()
    assert raw_bytes(store, tenant) == 0 and totals(store, tenant)["flows"] == rows_left  # (+2 and -2)

    assert Ingestor(store).ingest(tenant, sensor, body).status == "stored"
    expected = expected_bytes({sensor: body})
    assert raw_bytes(store, tenant) == expected
    assert totals(store, tenant) == {"flows": 2, "events": 1, "batches": 1, "rolled_up_bytes": expected}
    assert store.query("SELECT sum(sign) AS n FROM events WHERE tenant_id = {t:UInt32}", {"t": tenant})[0]["n"] == 1
