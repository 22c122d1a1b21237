import struct
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard

from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 5, 0, 1, tzinfo=timezone.utc)


def flow_row(**over):
    row = dict(ts=T0, ts_end=T1, uid="Cabc", community_id="1:x", vlan=0, orig_h="10.0.0.1",
               orig_p=1000, resp_h="10.0.0.2", resp_p=502, proto="tcp", ethertype=0x0800,
               service="modbus", duration=60.0, orig_bytes=12, resp_bytes=11, orig_pkts=3,
               resp_pkts=2, orig_ip_bytes=180, resp_ip_bytes=120, conn_state="SF",
               history="ShADadFf", orig_l2_addr="00:1b:1b:00:00:01", resp_l2_addr="00:1b:1b:00:00:02",
               final=True)
    row.update(over)
    return row


def make_batch():
    return wire.Batch(
        T0, T1,
        {
            "flows": wire.table_from_rows("flows", [flow_row()]),
            "events": wire.table_from_rows("events", [dict(ts=T0, ts_end=T0, count=1, uid="Cabc", orig_h="10.0.0.1",
                                                           resp_h="10.0.0.2", resp_p=502,
                                                           protocol="modbus", action="read",
                                                           status="ok", attrs={"unit": "1"})]),
            "observations": wire.empty_table("observations"),
        },
        {"packets": 5, "bytes": 300},
        sensor="SN-1",
    )


def test_roundtrip_keeps_every_value():
    batch = make_batch()
    back = wire.decode(wire.encode(batch))
    assert back.batch_id == batch.batch_id and back.sensor == "SN-1"
    assert back.interval_start == T0 and back.interval_end == T1
    assert back.counters["packets"] == 5 and back.counters["parse_errors"] == 0
    for name in wire.TABLES:
        assert back.tables[name].equals(batch.tables[name])


def frame(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(raw)


def raw_of(batch) -> bytes:
    return zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(wire.encode(batch))


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda raw: b"not zstd at all", "zstd"),
        (lambda raw: frame(b"XXXX" + raw[4:]), "magic"),
        (lambda raw: frame(raw[:4] + bytes([9]) + raw[5:]), "version 9"),
        (lambda raw: frame(raw[:-3]), "truncated"),
        (lambda raw: frame(raw + b"junk"), "trailing"),
        (lambda raw: frame(raw.replace(b'"flows":1', b'"flows":7')), "header says 7"),
        (lambda raw: frame(raw.replace(b'"batch_id":"', b'"batch_id":"zz')), "bad header"),
    ],
)
def test_rejections_name_the_problem(mangle, reason):
    with pytest.raises(wire.WireError, match=reason):
        wire.decode(mangle(raw_of(make_batch())))


def test_schema_mismatch_is_rejected():
    batch = make_batch()
    raw = raw_of(batch)
    head_len = struct.unpack_from("<I", raw, 5)[0]
    pos = 9 + head_len
    (length,) = struct.unpack_from("<Q", raw, pos)
    other = pa.table({"ts": [1]})
    import io

    import pyarrow.ipc as ipc

    sink = io.BytesIO()
    with ipc.new_stream(sink, other.schema) as w:
        w.write_table(other)
    body = sink.getvalue()
    mangled = raw[:pos] + struct.pack("<Q", len(body)) + body + raw[pos + 8 + length:]
    with pytest.raises(wire.WireError, match="schema mismatch"):
        wire.decode(frame(mangled))


def bomb(inflated: int) -> bytes:
    """A small frame of a batch's header and a flows table of ``inflated`` zero bytes."""
    raw = raw_of(make_batch())
    pos = 9 + struct.unpack_from("<I", raw, 5)[0]
    return frame(raw[:pos] + struct.pack("<Q", inflated) + bytes(inflated))


def test_decompression_bomb_is_refused_before_it_is_inflated():
    with pytest.raises(wire.WireError, match="larger than") as refused:
        wire.decode(bomb(10_000_000), max_size=1_000_000)
    assert refused.value.reason == "too_large"
    with pytest.raises(wire.WireError, match="bad magic"):  # garbage is refused at its first bytes
        wire.decode(frame(bytes(10_000_000)), max_size=1_000_000)


def test_decompression_holds_one_copy_of_the_batch():
    """Issue 9 #5: the content was built in a bytearray, then copied (twice the memory, per request)."""
    import tracemalloc

    size = 64 << 20
    body = bomb(size)
    tracemalloc.start()
    try:
        with pytest.raises(wire.WireError, match="not valid Arrow IPC"):
            wire.decode(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * size, f"peak {peak / size:.2f} x the content"


def test_content_that_fails_the_frame_checksum_is_refused():
    """The content parses (only the frame's last 4 bytes, its checksum, are changed), but it is not
    what the sensor wrote: refused before anything is stored."""
    body = wire.encode(make_batch())
    with pytest.raises(wire.WireError, match="checksum") as refused:
        wire.decode(body[:-4] + bytes(b ^ 0xFF for b in body[-4:]))
    assert refused.value.reason == "bad_checksum"


def test_a_version_3_frame_without_its_checksum_is_refused():
    with pytest.raises(wire.WireError, match="checksum"):
        wire.decode(zstandard.ZstdCompressor().compress(raw_of(make_batch())))


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def test_real_batches_round_trip_exactly_with_derived_columns_left_out():
    trace = CORPUS / "icsnpp" / "enip" / "traces"
    paths = sorted(trace.glob("*.pcap")) if trace.is_dir() else []
    if not paths:
        pytest.skip("corpus absent")
    batches = list(iter_batches(paths[:3], 60.0, sensor="SN-7", observer=Observer()))
    assert sum(b.rows("events") for b in batches) > 0
    for batch in batches:
        body = wire.encode(batch)
        back = wire.decode(body)
        for name in wire.TABLES:
            assert back.tables[name].equals(batch.tables[name]), name
        # every uid, community id and duration was derived at the far end, not sent
        raw = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(body)
        for uid in batch.tables["flows"].column("uid").to_pylist():
            assert uid.encode() not in raw


def test_a_flow_uid_depends_on_the_flow_not_on_who_originated_it():
    a, b = ("10.0.0.1", 40000, "00:00:00:00:00:01"), ("10.0.0.2", 502, "00:00:00:00:00:02")
    uid = wire.flow_uid("SN-1", "tcp", 0, 0x800, 1_700_000_000_000_000, a, b)
    assert uid == wire.flow_uid("SN-1", "tcp", 0, 0x800, 1_700_000_000_000_000, b, a)
    assert uid != wire.flow_uid("SN-2", "tcp", 0, 0x800, 1_700_000_000_000_000, a, b)
    assert uid != wire.flow_uid("SN-1", "tcp", 0, 0x800, 1_700_000_000_000_001, a, b)
    assert uid.startswith("C") and len(uid) >= 15


def test_community_id_matches_the_specification_example():
    # the Community ID spec's TCP example
    flows = pa.table({"orig_h": ["128.232.110.120", ""], "resp_h": ["66.35.250.204", ""], "orig_p": [34855, 0],
                      "resp_p": [80, 0], "proto": ["tcp", "l2"]})
    assert wire.flow_community_ids(flows) == ["1:LQU9qZlK+B5F3KDmev6m5PMibrg=", ""]


def _v1_body(batch: wire.Batch) -> bytes:
    """``batch`` as a version-1 sensor sent it: TABLES as they are, events without count and ts_end."""
    import io
    import json

    import pyarrow.ipc as ipc

    tables = dict(batch.tables, events=batch.tables["events"].drop_columns(["ts_end", "count"]))
    counters = {k: batch.counters.get(k, 0) for k in wire.COUNTERS if k != "decode_errors"}
    head = json.dumps({"version": 1, "batch_id": batch.batch_id, "sensor": batch.sensor,
                       "interval_start": batch.interval_start.isoformat(), "interval_end": batch.interval_end.isoformat(),
                       "rows": {n: t.num_rows for n, t in tables.items()}, "counters": counters}).encode()
    parts = [wire.MAGIC, struct.pack("<BI", 1, len(head)), head]
    for table in tables.values():
        sink = io.BytesIO()
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        parts += [struct.pack("<Q", len(sink.getvalue())), sink.getvalue()]
    return frame(b"".join(parts))


def test_version_1_batches_still_spooled_at_an_upgrade_are_read():
    batch = make_batch()
    back = wire.decode(_v1_body(batch))
    assert back.tables["events"].equals(batch.tables["events"])  # count 1, ts_end = ts
    assert back.counters["decode_errors"] == 0 and back.counters["packets"] == 5


def test_an_event_naming_a_missing_flow_row_is_rejected():
    batch = make_batch()
    batch.tables["events"] = batch.tables["events"].set_column(3, "uid", pa.array(["Cother"]))
    body = wire.encode(batch)
    assert wire.decode(body).tables["events"]["uid"].to_pylist() == ["Cother"]  # not a flow of the batch: sent
    with pytest.raises(wire.WireError, match="flow row") as refused:
        wire.decode(body_naming_flow_row(make_batch(), 5))
    assert refused.value.reason == wire.Reason.SCHEMA


def body_with(batch: wire.Batch, **compact: pa.Table) -> bytes:
    """``batch`` on the wire with some of its tables as given, in their compact form."""
    raw = raw_of(batch)
    pos = 9 + struct.unpack_from("<I", raw, 5)[0]
    tables = wire._wire_tables(batch) | compact
    parts = [raw[:pos]]
    for name in wire.TABLES:
        body = wire._ipc_bytes(tables[name])
        parts += [struct.pack("<Q", len(body)), body]
    return frame(b"".join(parts))


def body_naming_flow_row(batch: wire.Batch, row: int) -> bytes:
    """``batch`` on the wire with its events naming flow row ``row``."""
    events = wire._wire_tables(batch)["events"]
    return body_with(batch, events=events.set_column(
        events.schema.get_field_index("flow"), "flow", pa.array([row] * events.num_rows, pa.int8())))


def test_derived_columns_worked_out_in_slices_are_the_same(tmp_path, monkeypatch):
    """uids, Community IDs and durations are derived DERIVE_SLICE flows at a time, when encoding (to
    leave them out) and when completing a group of batches (each row with its batch's salt)."""
    from sensor.simulate import write_pcap

    write_pcap(tmp_path / "plant.pcap", packets=3000, seed=3)
    batches = list(iter_batches([tmp_path / "plant.pcap"], 1.0, sensor="SN-7"))
    for batch in batches:
        batch.batch_id = "00000000-0000-4000-8000-000000000000"

    def encoded_and_completed():
        frames = [wire.encode(batch, level=3) for batch in batches]
        done = wire.complete([wire.parse(f) for f in frames])
        return frames, [b.tables["flows"] for b in done]

    monkeypatch.setattr(wire, "DERIVE_SLICE", 1 << 30)
    frames, flows = encoded_and_completed()
    assert len(batches) > 1 and sum(f.num_rows for f in flows) > 3 * 7
    monkeypatch.setattr(wire, "DERIVE_SLICE", 7)
    frames_sliced, flows_sliced = encoded_and_completed()
    assert frames_sliced == frames
    assert all(a.equals(b) for a, b in zip(flows_sliced, flows)) and len(flows_sliced) == len(flows)
