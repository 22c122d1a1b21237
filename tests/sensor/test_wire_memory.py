"""What wire.encode holds beside the batch it encodes: the compact tables and the frame's content, each
once, written straight into one buffer of the content's exact size (the IPC streams were bytes, then
joined: the content three times over), and no Python object per flow or event; the frame is the same
bytes as the compact tables' IPC streams joined and compressed at once."""

from __future__ import annotations

import base64
import struct
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from bench.concurrent_flows import write as write_concurrent
from sensor import wire
from sensor.meter.pipeline import iter_batches
from sensor.wire import community, heap

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


@pytest.mark.parametrize("slice_rows", [1, 2, 1 << 14])
def test_an_event_names_the_first_flow_with_its_uid_whatever_the_flows_looked_up_at_a_time(monkeypatch, slice_rows):
    monkeypatch.setattr(wire, "LOOKUP_SLICE", slice_rows)
    flows = pa.chunked_array([["Ca", "Cb"], ["Ca", "Cc", "Cb"]])
    events = pa.chunked_array([["Cc", "Cz", "Ca"], [None, "Cb"]])
    rows = wire._first_rows(events, flows)
    assert rows.to_pylist() == [3, None, 0, None, 1]
    # zero beneath a null, as one lookup of all the flows gives: a frame's bytes do not depend on the slices
    assert np.frombuffer(rows.buffers()[1], np.int64, len(rows), rows.offset).tolist() == [3, 0, 0, 0, 1]
    assert wire._first_rows(events, pa.chunked_array([], pa.string())).to_pylist() == [None] * 5


def test_an_event_s_flow_row_is_looked_up_in_a_slice_of_the_flows_at_a_time():
    """A lookup hashes the uids it looks in: 100,000 flows' at once were ~8 MB of Arrow memory beside the
    batch at its encode's high-water mark."""
    uids = pa.chunked_array([pa.array([f"C{i:017d}" for i in range(100_000)])])
    events = pa.chunked_array([pa.array([f"C{2 * i:017d}" for i in range(80_000)])])  # from 100,000: none
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    try:
        rows = wire._first_rows(events, uids)
    finally:
        pa.set_memory_pool(previous)
    assert rows.to_pylist() == [2 * i if 2 * i < 100_000 else None for i in range(80_000)]
    rows = None  # (allocated from the pool: not to outlive it)
    assert pool.max_memory() < 3 << 20, pool.max_memory()  # (all 100,000 at once: 8.5 MB)


def test_deriving_a_batch_s_flow_columns_holds_little_beside_them(busy_batches):
    """The uids' hash input texts and the Community IDs' keys and SHA-1 inputs are built a few thousand
    flows at a time (16,384 at once: ~15 MB); the derived values are the batch's."""
    flows = busy_batches[0].tables["flows"]
    assert flows.num_rows > wire.DERIVE_SLICE
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        derived = wire._with_derived(flows, "SN-7", lambda column, value: pa.chunked_array([value]))
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    for name in wire.DERIVED:
        assert derived.column(name).equals(flows.column(name)), name
    kept = sum(derived.column(name).nbytes for name in wire.DERIVED)
    derived = None  # (allocated from the pool: not to outlive it)
    # Python and numpy, then Arrow beside what is kept, in bytes a flow of a DERIVE_SLICE slice (numpy before: ~560)
    assert traced < 260 * wire.DERIVE_SLICE, traced
    assert pool.max_memory() < 160 * wire.DERIVE_SLICE + kept, (pool.max_memory(), kept)


def test_community_ids_render_as_base64_a_few_bytes_a_row_at_once():
    rng = np.random.default_rng(7)
    digests = np.zeros((16_384, 21), np.uint8)
    digests[:, :20] = rng.integers(0, 256, (16_384, 20), np.uint8)
    present = rng.random(16_384) < 0.9
    tracemalloc.start()
    try:
        texts = community.render(digests, present)
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert texts.to_pylist() == [f"1:{base64.b64encode(d[:20].tobytes()).decode()}" if p else ""
                                 for d, p in zip(digests, present)]
    assert traced < 100 * len(digests), traced  # (a sextet array per group of three bytes: ~340 a row)


def test_a_consuming_encode_gives_the_heap_back_before_each_large_column_s_compact_form(busy_batches, monkeypatch):
    """A large column's compact form is one new block: the heap's free pages (what the columns before it
    held) are returned first, rather than kept resident beside it."""
    sent = busy_batches[2]
    frame = wire.encode(sent)
    batch = wire.decode(frame)  # tables of its own (the fixture's are shared)
    monkeypatch.setattr(heap, "WORTH", 256 << 10)  # (this batch's largest columns: ~1 MB)
    log = []
    compact_column, give_back = wire._compact_column, heap.give_back
    monkeypatch.setattr(wire, "_compact_column",
                        lambda col, start: log.append(col.nbytes) or compact_column(col, start))
    monkeypatch.setattr(heap, "give_back", lambda: log.append("given back") or give_back())
    assert wire.encode(batch, consume=True) == frame
    large = [at for at, entry in enumerate(log) if entry != "given back" and entry >= heap.WORTH]
    assert len(large) >= 3, log
    assert all(log[at - 1] == "given back" for at in large), log
