"""``wire.complete`` checks and derives many parsed batches in one pass (the core does it per group):
the batches equal ``wire.decode`` of each alone, and a bad batch among them gets decode's own error
while the others are completed."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap


@pytest.fixture(scope="module")
def bodies(tmp_path_factory) -> list[bytes]:
    """The simulated plant in 2-second batches, each from another of seven sensors (uid salts)."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=8000, seed=2)
    batches = list(iter_batches([path], 2.0, sensor="SN", observer=Observer()))
    return [wire.encode(wire.Batch(b.interval_start, b.interval_end, b.tables, b.counters, sensor=f"SN-{i % 7}"))
            for i, b in enumerate(batches)]


def test_completed_together_equals_decoded_alone(bodies):
    alone = [wire.decode(body) for body in bodies]
    together = wire.complete([wire.parse(body) for body in bodies])
    assert len(together) == len(alone) > 5
    for a, b in zip(alone, together):
        assert (a.batch_id, a.sensor, a.interval_start, a.counters) == (b.batch_id, b.sensor, b.interval_start, b.counters)
        for name in wire.TABLES:
            assert a.tables[name].equals(b.tables[name]), name
    assert sum(b.rows("events") for b in together) and len({b.sensor for b in together}) == 7


def _with_time(body: bytes, table: str, by: timedelta) -> bytes:
    """The batch with its first row of ``table`` moved by ``by``."""
    batch = wire.decode(body)
    t = batch.tables[table]
    times = [ts + by if i == 0 else ts for i, ts in enumerate(t["ts"].to_pylist())]
    batch.tables[table] = t.set_column(0, "ts", pa.array(times, wire.TS))
    if "ts_end" in t.column_names:
        batch.tables[table] = batch.tables[table].set_column(1, "ts_end", pa.array(
            [max(a, b) for a, b in zip(times, t["ts_end"].to_pylist())], wire.TS))
    return wire.encode(batch)


def test_a_bad_batch_among_good_ones_fails_alone_with_decodes_error(bodies):
    bad = list(bodies)
    # an observation a minute past its own interval's slack: inside a later batch's interval
    bad[1] = _with_time(bodies[1], "observations", timedelta(seconds=75))
    flows = wire.decode(bodies[3])
    flows.tables["flows"] = flows.tables["flows"].set_column(
        flows.tables["flows"].schema.get_field_index("orig_h"), "orig_h",
        pa.array(["10.0.0.300"] + flows.tables["flows"]["orig_h"].to_pylist()[1:]))
    bad[3] = wire.encode(flows)
    results = wire.complete([wire.parse(body) for body in bad])
    for i in (1, 3):
        with pytest.raises(wire.WireError) as alone:
            wire.decode(bad[i])
        assert isinstance(results[i], wire.WireError)
        assert (results[i].reason, str(results[i])) == (alone.value.reason, str(alone.value))
    assert results[1].reason == wire.Reason.TIME and results[3].reason == wire.Reason.VALUE
    good = [r for i, r in enumerate(results) if i not in (1, 3)]
    assert all(isinstance(r, wire.Batch) for r in good)
    assert [r.tables["flows"]["uid"] for r in good] == [wire.decode(b).tables["flows"]["uid"]
                                                        for i, b in enumerate(bodies) if i not in (1, 3)]


def test_version_1_batches_beside_later_ones_are_completed_each_alone(bodies):
    from test_wire import _v1_body, make_batch  # the v1 writer the upgrade test keeps

    old = _v1_body(make_batch())
    results = wire.complete([wire.parse(old), wire.parse(bodies[0])])
    assert [type(r) for r in results] == [wire.Batch, wire.Batch]
    assert results[0].tables["events"].equals(wire.decode(old).tables["events"])


def test_a_batch_that_cannot_be_expanded_fails_alone_with_decodes_error(bodies):
    """``parse`` checks each table's types; expanding the tables, which ``complete`` does for the whole
    group, finds the rest: an event naming a flow row past its own batch's (within the group's),
    a time past what int64 holds once its interval start is added."""
    from test_wire import body_naming_flow_row, body_with, make_batch

    batch = make_batch()
    flows = wire._wire_tables(batch)["flows"]
    overflow = body_with(batch, flows=flows.set_column(0, "ts", pa.array([2**63 - 1], pa.int64())))
    bad = [body_naming_flow_row(batch, 1), *bodies[:3], overflow, *bodies[3:6]]
    results = wire.complete([wire.parse(body) for body in bad])
    for i in (0, 4):
        with pytest.raises(wire.WireError) as alone:
            wire.decode(bad[i])
        assert isinstance(results[i], wire.WireError) and alone.value.reason == wire.Reason.SCHEMA
        assert str(results[i]) == str(alone.value)
    good = [r for i, r in enumerate(results) if i not in (0, 4)]
    assert len(good) == 6
    for done, body in zip(good, bodies[:6]):
        assert all(done.tables[name].equals(wire.decode(body).tables[name]) for name in wire.TABLES)


def test_a_group_whose_dictionaries_outgrow_their_index_type_is_completed_together(monkeypatch):
    """Each batch's 100 distinct histories travel with int8 dictionary indices; the group's 300 do not
    fit them, and the group is still expanded as one (not batch by batch)."""
    from test_wire import T0, T1, flow_row

    bodies = [wire.encode(wire.Batch(T0, T1, {
        "flows": wire.table_from_rows("flows", [flow_row(history=f"h{b}-{i}", orig_p=i + 1) for i in range(100)]),
        "events": wire.empty_table("events"), "observations": wire.empty_table("observations")}, sensor=f"SN-{b}"))
        for b in range(3)]
    alone = [wire.decode(body) for body in bodies]
    monkeypatch.setattr(wire, "_complete", lambda parsed: pytest.fail("completed batch by batch"))
    together = wire.complete([wire.parse(body) for body in bodies])
    for a, b in zip(alone, together, strict=True):
        assert all(a.tables[name].equals(b.tables[name]) for name in wire.TABLES)


def test_what_encode_never_writes_is_refused_or_made_one_chunk_by_parse():
    """Joining a group's dictionaries reads every entry, so unused entries would cost every batch of the
    group (a one-row batch with 200,000 of them once took a group of 31 from 0.01 to 2.3 s and +494 MB);
    an ordered dictionary cannot be joined with the others' and forced every group it was in to be
    completed batch by batch; a table's many record batches are joined in the upload's own parse."""
    from test_wire import body_with, make_batch

    batch = make_batch()
    flows = wire._wire_tables(batch)["flows"]
    j = flows.schema.get_field_index("history")

    def with_history(array: pa.Array) -> bytes:
        return body_with(batch, flows=flows.set_column(j, pa.field("history", array.type), array))

    index = pa.array([0], pa.int32())
    unused = pa.DictionaryArray.from_arrays(index, pa.array(["ShADad", "x", "y"]))
    ordered = pa.DictionaryArray.from_arrays(index, pa.array(["ShADad"]), ordered=True)
    for body in (with_history(unused), with_history(ordered)):
        with pytest.raises(wire.WireError) as refused:
            wire.parse(body)
        assert refused.value.reason == wire.Reason.SCHEMA
    used = pa.DictionaryArray.from_arrays(index, pa.array(["ShADad"]))
    assert wire.decode(with_history(used)).tables["flows"]["history"].to_pylist() == ["ShADad"]

    chunked = body_with(batch, flows=pa.concat_tables([flows.slice(0, 0), flows, flows.slice(0, 0)]))
    parsed = wire.parse(chunked)
    assert all(column.num_chunks == 1 for column in parsed.tables["flows"].columns)
    (done,) = wire.complete([parsed])
    assert all(done.tables[name].equals(wire.decode(wire.encode(batch)).tables[name]) for name in wire.TABLES)


def test_a_table_sent_as_one_record_batch_is_checked_once_and_kept_as_it_came(monkeypatch):
    """``encode`` writes each table as one record batch: parse checks its dictionaries once and keeps the
    table it read (joining one chunk would copy nothing and check it all again, per table of every upload)."""
    from test_wire import make_batch

    checked, real = [], wire._no_unused_entries
    monkeypatch.setattr(wire, "_no_unused_entries", lambda name, table: checked.append(name) or real(name, table))
    parsed = wire.parse(wire.encode(make_batch()))
    assert sorted(checked) == sorted(wire.TABLES)
    assert all(column.num_chunks <= 1 for table in parsed.tables.values() for column in table.columns)
