"""The compiled paths hand their events over as wire.EVENTS tables (``sensor.meter.eventcols``); an
interval's events (``IntervalEvents``) read as the dicts they stand for, and the batch's events table
is the one those dicts make (``fold_events``, ``wire.table_from_rows``), so every frame is the one the
sensor sent when every event was a dict."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from conftest import pcap_bytes
from fastpaths import CLIENT, SERVER, T0, plant  # noqa: F401 (plant: a fixture)

from sensor import wire
from sensor.meter import applayer
from sensor.meter import eventcols, fast_modbus
from sensor.meter.fold import fold_events
from sensor.meter.intervalevents import IntervalEvents, wire_events
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches, iter_intervals
from sensor.simulate import modbus, tcp_frame


def _frame(tables: dict, batch: wire.Batch) -> bytes:
    return wire.encode(replace(batch, tables=tables, batch_id="0"))


def _table(rows: list[dict]) -> pa.Table:
    return wire.table_from_rows("events", rows)


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("block", [eventcols.BLOCK, 4])
def test_the_plant_s_batches_are_those_of_the_dicts(plant, fold, block, monkeypatch):
    """Observer, Python decoders and the compiled Modbus, S7comm and EtherNet/IP paths in one interval
    (with a small block, the S7comm and EtherNet/IP paths' rows become tables too, and Modbus's however few)."""
    monkeypatch.setattr(eventcols, "BLOCK", block)
    if block == 4:
        monkeypatch.setattr(fast_modbus, "FEW_ROWS", 0)
    tables = 0
    for iv, batch in zip(iter_intervals([plant], observer=Observer(), folded=fold),
                         iter_batches([plant], observer=Observer(), fold=fold), strict=True):
        rows = list(iv.events)
        as_dicts = wire.table_from_rows("events", fold_events(rows) if fold else rows)
        assert batch.tables["events"].equals(as_dicts)
        assert _frame(batch.tables, batch) == _frame({**batch.tables, "events": as_dicts}, batch)
        tables += sum(not isinstance(part, list) for parts in iv.events.sections for part in parts)
    assert tables >= (3 if block == 4 else 0 if fold else 1)  # (the plant's Modbus rows folded: a few dicts)


def _row(ts_us: int, uid: str, tid: int, action: str = "Read Holding Registers") -> dict:
    ts = datetime.fromtimestamp(ts_us / 1e6, timezone.utc)
    return {"ts": ts, "ts_end": ts, "count": 1, "uid": uid, "orig_h": "10.0.0.1", "resp_h": "10.0.0.2", "resp_p": 502,
            "protocol": "modbus", "action": action, "status": "OK",
            "attrs": {"tid": str(tid), "unit": "1", "rtt": f"0.00{tid}000"}}


def test_parts_merge_by_time_and_sections_follow_each_other():
    early, tie_first, tie_second, later = (_row(T0 + 1, "Ca", 1), _row(T0 + 3, "Cb", 2), _row(T0 + 3, "Cc", 3),
                                           _row(T0 + 9, "Cd", 4))
    before = _row(T0 + 5, "Ce", 5)  # a section of its own, before the merged one: not sorted into it
    events = [before] + IntervalEvents.merged([[early, tie_first], _table([_row(T0 + 2, "Cf", 6), tie_second])])
    events = events + [later]
    listed = list(events)
    order = [row["uid"] for row in listed]
    assert order == ["Ce", "Ca", "Cf", "Cb", "Cc", "Cd"] and len(events) == 6 and listed[2]["attrs"]["tid"] == "6"
    assert wire_events(events, False).column("uid").to_pylist() == order
    assert wire_events(events, True).equals(wire.table_from_rows("events", fold_events(list(events))))


def test_a_table_row_and_a_dict_row_of_one_event_fold_together():
    """A compiled row whose uid a dict row also has may fold with it: the dicts are made then."""
    events = IntervalEvents.merged([[_row(T0 + 1, "Ca", 1), _row(T0 + 2, "Cb", 2)], _table([_row(T0 + 3, "Ca", 3)])])
    table = events.table(fold=True)
    assert table.equals(wire.table_from_rows("events", fold_events(list(events))))
    assert table.column("count").to_pylist() == [2, 1] and table.column("uid").to_pylist() == ["Ca", "Cb"]


def test_a_connection_reused_within_its_start_s_microsecond_folds_as_its_dicts_do(tmp_path, monkeypatch):
    """Two Modbus flows, one uid (the second opened at the µs the first did, after the first's reset),
    the same read each: two fids on the compiled path, which hands their rows over as dicts, so
    fold_events makes one row of them, as it does of the Python decoder's events."""
    def segment(t: int, from_client: bool, flags: int, seq: int, payload: bytes = b"") -> tuple[int, bytes]:
        src, dst, ports = (CLIENT, SERVER, (40000, 502)) if from_client else (SERVER, CLIENT, (502, 40000))
        return T0 + t, tcp_frame(src, dst, *ports, seq, 1, flags, payload)

    read_1, read_2 = (modbus(tid, 1, b"\x03\x00\x0a\x00\x02") for tid in (1, 2))
    answer = modbus(1, 1, b"\x03\x04\x00\x01\x00\x02")
    frames = [segment(0, True, 0x02, 100), segment(10, False, 0x12, 900), segment(20, True, 0x18, 101, read_1),
              segment(30, False, 0x18, 901, answer), segment(40, True, 0x04, 101 + len(read_1)),
              segment(0, True, 0x02, 7000), segment(50, False, 0x12, 800), segment(60, True, 0x18, 7001, read_2),
              segment(70, False, 0x18, 801, modbus(2, 1, answer[7:]))]
    path = tmp_path / "reused.pcap"
    path.write_bytes(pcap_bytes(frames))
    tables = {}
    for compiled in (True, False):
        monkeypatch.setattr(applayer, "COMPILED", compiled)
        [batch] = list(iter_batches([path]))
        tables[compiled] = batch.tables["events"]
    assert tables[True].equals(tables[False])
    assert tables[True].column("count").to_pylist() == [2]
