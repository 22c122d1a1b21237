"""What wire.encode holds beside the batch it encodes: the compact tables and the frame's content, each
once, written straight into one buffer of the content's exact size (the IPC streams were bytes, then
joined: the content three times over), and no Python object per flow or event; the frame is the same
bytes as the compact tables' IPC streams joined and compressed at once."""

from __future__ import annotations

import struct
import tracemalloc

import pyarrow as pa
import pytest
import zstandard

from bench.concurrent_flows import write as write_concurrent
from sensor import wire
from sensor.meter.pipeline import iter_batches

BATCH_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def busy_batches(tmp_path_factory) -> list[wire.Batch]:
    """bench/concurrent_flows.py's capture with 20,000 flows open at once, in 2 s batches: every batch
    has all the flows; the third and fourth the Modbus requests' and answers' events."""
    path = tmp_path_factory.mktemp("busy") / "concurrent.pcap"
    write_concurrent(path, flows=20_000, rounds=4)
    batches = list(iter_batches([path], 2.0, sensor="SN-7"))
    for batch in batches:
        batch.batch_id = BATCH_ID
    return batches


def content_joined_at_once(batch: wire.Batch) -> bytes:
    """The frame's content as encode built it before: header, then each compact table's IPC stream as
    bytes, all joined."""
    content = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(wire.encode(batch))
    parts = [content[:9 + struct.unpack_from("<I", content, 5)[0]]]
    for table in wire._wire_tables(batch).values():
        body = wire._ipc_bytes(table)
        parts += [struct.pack("<Q", len(body)), body]
    return b"".join(parts)


def test_encoding_holds_the_content_once_in_python_and_the_compact_tables_beside_it_in_arrow(
        busy_batches, monkeypatch):
    monkeypatch.setattr(wire, "DERIVE_SLICE", 2048)  # the derivations' numpy temporaries (traced too) kept small
    assert len(busy_batches) == 4 and all(batch.rows("flows") == 20_000 for batch in busy_batches)
    assert busy_batches[2].rows("events") > 15_000
    previous = pa.default_memory_pool()
    for batch in busy_batches:
        joined = content_joined_at_once(batch)
        pool = pa.proxy_memory_pool(previous)
        pa.set_memory_pool(pool)
        tracemalloc.start()
        try:
            frame = wire.encode(batch)
            traced = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            pa.set_memory_pool(previous)
        # Python: the compressor's output (allocated at the content's bound); before, 3.0-3.9 times the content
        assert traced < 1.4 * len(joined) + (256 << 10), (traced, len(joined))
        # Arrow: the compact tables and the content written from them (~2 times the content), no more
        assert pool.max_memory() < 2.5 * len(joined) + (1 << 20), (pool.max_memory(), len(joined))
        level = wire.level_for(len(joined))
        assert frame == zstandard.ZstdCompressor(level=level, dict_data=wire.zstd_prefix(),
                                                 write_checksum=True).compress(joined)


def test_an_event_names_the_first_flow_with_its_uid_and_travels_with_its_uid_only_without_one():
    t0 = pa.scalar(0, wire.TS).as_py()
    flows = [dict(ts=t0, ts_end=t0, uid=uid, community_id="", vlan=0, orig_h="", orig_p=0, resp_h="", resp_p=0,
                  proto="l2", ethertype=0x88CC, service="", duration=0.0, orig_bytes=0, resp_bytes=0, orig_pkts=1,
                  resp_pkts=0, orig_ip_bytes=60, resp_ip_bytes=0, conn_state="", history="",
                  orig_l2_addr="02:00:00:00:00:01", resp_l2_addr="02:00:00:00:00:02", final=False)
             for uid in ("Ca", "Cb", "Ca")]
    events = [dict(ts=t0, ts_end=t0, count=1, uid=uid, orig_h="", resp_h="", resp_p=0, protocol="lldp",
                   action="hello", status="ok", attrs={}) for uid in ("Ca", "Cz", "Cb", "Ca")]
    batch = wire.Batch(t0, t0, {"flows": wire.table_from_rows("flows", flows),
                                "events": wire.table_from_rows("events", events),
                                "observations": wire.empty_table("observations")})
    compact = wire._wire_tables(batch)["events"]
    assert compact.column("flow").to_pylist() == [0, None, 1, 0]
    assert compact.column("uid").cast(pa.string()).to_pylist() == [None, "Cz", None, None]


def test_a_consuming_encode_lets_each_table_go_as_its_compact_form_is_built(busy_batches, monkeypatch):
    """``encode(consume=True)`` (the runner's producer): by the time the frame's content is written, Arrow
    holds the compact tables and none of the batch's (which held them beside each other: the batch's
    flows alone are ~3 times the content); the frame is the same bytes."""
    sent = busy_batches[2]
    frame = wire.encode(sent)
    before = pa.total_allocated_bytes()
    batch = wire.decode(frame)  # tables of its own (the fixture's are shared), equal to the batch's
    held = pa.total_allocated_bytes() - before  # what Arrow holds for them
    assert held > 3 * len(frame)
    seen = {}
    content = wire._content

    def writing(start, compact):
        seen["allocated"] = pa.total_allocated_bytes()
        seen["compact"] = sum(table.nbytes for table in compact.values())
        return content(start, compact)

    monkeypatch.setattr(wire, "_content", writing)
    before = pa.total_allocated_bytes()  # the batch's tables included
    assert wire.encode(batch, consume=True) == frame
    # while the content is written: the compact tables, less the batch's tables
    assert seen["allocated"] - before < seen["compact"] - held + (256 << 10), (seen, held)
    assert pa.total_allocated_bytes() < before - held + (256 << 10)
    assert batch.tables == {}
