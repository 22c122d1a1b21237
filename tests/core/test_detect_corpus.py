"""Detection on real captures through the real pipeline and the real app: DNP3 writes and
select/operate after a sensor learned DNP3 reads raise new_ot_function; a Modbus polling capture,
after learning its first part, raises nothing; resending or replaying it raises nothing twice."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from coretest import T0, post_batch, provision

from core.detect import store
from core.store.controlplane import Tenant
from sensor import wire
from sensor.meter import pipeline

_names = itertools.count()
DNP3 = "ics-pcap/DNP3/{0}/{0}.pcap"


def shifted(batch: wire.Batch, by: timedelta) -> wire.Batch:
    """The same traffic ``by`` later, as a new batch (new id)."""
    tables = {}
    for name, table in batch.tables.items():
        for column in ("ts", "ts_end"):
            if column in table.column_names:
                moved = pc.add(table[column], pa.scalar(by, pa.duration("us"))).cast(wire.TS)
                table = table.set_column(table.column_names.index(column), column, moved)
        tables[name] = table
    return wire.Batch(batch.interval_start + by, batch.interval_end + by, tables, batch.counters, sensor=batch.sensor)


def recent(batches: list[wire.Batch], later: timedelta = timedelta()) -> list[wire.Batch]:
    """The capture's batches moved to start at T0 (the core refuses data years old), plus ``later``."""
    return [shifted(b, T0 - batches[0].interval_start + later) for b in batches]


def tenant(client, learning_hours: float):
    t = provision(client.app, f"corpus{next(_names)}")
    with client.app.state.controlplane.session() as db:
        db.get(Tenant, t.id).learning_hours = learning_hours
    return t


def send(client, t, batches, expect="stored") -> None:
    for b in batches:
        r = post_batch(client, t.sensor_token, wire.encode(b))
        assert r.status_code == 200 and r.json()["status"] == expect, r.text


def test_dnp3_write_and_select_operate_after_learning_reads(client, corpus):
    reads, writes, operates = (list(pipeline.iter_batches([corpus / DNP3.format(n)], 60.0))
                               for n in ("DNP3-Read", "DNP3-Write", "DNP3-SelectOperate"))
    learning = tenant(client, 0.5)  # the same traffic inside the learning period raises nothing
    send(client, learning, recent(reads) + recent(writes) + recent(operates))
    assert store.list_alerts(client.app.state.clickhouse, learning.id) == []

    t = tenant(client, 0.5)
    send(client, t, recent(reads))
    send(client, t, recent(writes, timedelta(hours=1)))
    send(client, t, recent(operates, timedelta(hours=2)))
    found = store.list_alerts(client.app.state.clickhouse, t.id, sort="ts", descending=False)
    print("\nDNP3 after learning reads:", [(a["kind"], a["severity"], a["details"]["function"]) for a in found])
    assert [(a["kind"], a["severity"], a["details"]["function"]) for a in found] == [
        ("new_ot_function", "high", "WRITE"), ("new_ot_function", "high", "SELECT"),
        ("new_ot_function", "high", "OPERATE")]
    write = found[0]
    assert (write["src"]["ip"], write["dst"]["ip"], write["protocol"]) == ("127.0.0.1", "127.0.0.1", "dnp3")
    uids = set(writes[0].tables["flows"]["uid"].to_pylist())
    assert write["evidence"] and set(write["evidence"]) <= uids


@pytest.mark.one_pass
def test_polling_after_learning_its_first_part_raises_nothing_even_replayed(client, corpus):
    batches = list(pipeline.iter_batches([corpus / "iti/ModbusTCP/modbus_test.pcap"], 5.0))
    span = batches[-1].interval_end - batches[0].interval_start
    assert len(batches) > 10
    t = tenant(client, span.total_seconds() / 2 / 3600)
    batches = recent(batches)
    send(client, t, batches)
    send(client, t, batches, expect="duplicate")
    send(client, t, recent(batches, timedelta(days=1)))  # the same polling a day later
    found = store.list_alerts(client.app.state.clickhouse, t.id)
    print(f"\nModbus polling, {len(batches)} batches, learning the first {span / 2}:",
          [(a["kind"], a["severity"]) for a in found] or "no alerts")
    assert all(a["severity"] == "info" for a in found)
