import struct
from datetime import datetime, timezone

import pytest
import zstandard

from sensor import wire

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
            "events": wire.table_from_rows("events", [dict(ts=T0, uid="Cabc", orig_h="10.0.0.1",
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
    return zstandard.ZstdCompressor().compress(raw)


def raw_of(batch) -> bytes:
    return zstandard.ZstdDecompressor().decompress(wire.encode(batch))


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
    import pyarrow as pa

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


def test_decompression_bomb_is_refused():
    bomb = zstandard.ZstdCompressor().compress(bytes(10_000_000))
    with pytest.raises(wire.WireError, match="larger than"):
        wire.decode(bomb, max_size=1_000_000)
