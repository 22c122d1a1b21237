"""The batch wire format shared by sensor and core (the only module core imports from sensor).

A batch is one sensor's records for one interval. On the wire it is a zstd frame holding:

    b"MRKB" | u8 version | u32 header length | header (UTF-8 JSON)
    then, for each table in TABLES order: u64 length | Arrow IPC stream

The header names the batch (``batch_id``, stable across resends so the core can deduplicate), the
interval, the row count of each table and the capture counters for the interval.

The tables travel in a compact form of TABLES that ``decode`` turns back into exactly the tables
``encode`` was given (version 2 and 3; version 1 batches, sent as TABLES themselves, are still read):
strings are dictionary-encoded, times are microseconds from the interval start, integers take the
narrowest type holding their values, a flow's ``uid``, ``community_id`` and ``duration`` are null
wherever they equal what ``flow_uid``, ``flow_community_ids`` and ts_end − ts give for the row, and an
event names its flow by row number (``flow``) instead of by uid. A version 3 frame carries zstd's
content checksum (version 2, the same content without it, is still read).

``decode`` trusts nothing: it inflates the frame piece by piece, checking each piece before the
next (sizes, header fields and types), fully validates every Arrow table before reading a value,
checks every column's type and every value's domain (sensor/wire/batchcheck.py) and, given the core's
TimeBounds, the times; whatever fails is a WireError naming the problem and its ``Reason``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import zstandard

from sensor.wire import batchcheck, community, flowuid, heap
from sensor.wire.compute import pc

MAGIC = b"MRKB"
VERSION = 3  # 3: the frame carries its content checksum (2 did not; the content is the same)
READABLE_VERSIONS = (1, 2, 3)
MAX_DECOMPRESSED = 256 * 1024 * 1024

TS = pa.timestamp("us", tz="UTC")

FLOWS = pa.schema(
    [
        ("ts", TS),  # first packet of the flow (not of this interval)
        ("ts_end", TS),  # last packet of the flow within this interval
        ("uid", pa.string()),
        ("community_id", pa.string()),
        ("vlan", pa.uint16()),  # 0 = untagged; outer tag for QinQ
        ("orig_h", pa.string()),  # empty for L2 flows
        ("orig_p", pa.uint16()),
        ("resp_h", pa.string()),
        ("resp_p", pa.uint16()),
        ("proto", pa.string()),  # tcp, udp, icmp, icmp6, other IP protocol number, or "l2"
        ("ethertype", pa.uint16()),
        ("service", pa.string()),
        ("duration", pa.float64()),  # ts_end - ts, seconds
        ("orig_bytes", pa.uint64()),  # payload bytes, this interval only
        ("resp_bytes", pa.uint64()),
        ("orig_pkts", pa.uint64()),
        ("resp_pkts", pa.uint64()),
        ("orig_ip_bytes", pa.uint64()),  # IP (or L2 frame for L2 flows) bytes, this interval only
        ("resp_ip_bytes", pa.uint64()),
        ("conn_state", pa.string()),  # as of ts_end
        ("history", pa.string()),
        ("orig_l2_addr", pa.string()),
        ("resp_l2_addr", pa.string()),
        ("final", pa.bool_()),  # the flow ended in this interval
    ]
)

EVENTS = pa.schema(
    [
        ("ts", TS),  # the first occurrence in the interval
        ("ts_end", TS),  # the last (sensor.meter.fold folds repeated events into one row)
        ("count", pa.uint32()),
        ("uid", pa.string()),
        ("orig_h", pa.string()),
        ("resp_h", pa.string()),
        ("resp_p", pa.uint16()),
        ("protocol", pa.string()),
        ("action", pa.string()),
        ("status", pa.string()),
        ("attrs", pa.map_(pa.string(), pa.string())),
    ]
)

OBSERVATIONS = pa.schema(
    [
        ("ts", TS),
        ("mac", pa.string()),
        ("ip", pa.string()),
        ("attribute", pa.string()),  # vendor, hostname, dns_name, ...
        ("value", pa.string()),
        ("source", pa.string()),  # what produced it: oui, arp, dhcp, dns, mdns, nbns, ip
        ("confidence", pa.uint8()),  # 0..100
    ]
)

TABLES: dict[str, pa.Schema] = {"flows": FLOWS, "events": EVENTS, "observations": OBSERVATIONS}

# parse_errors: damaged frames; decode_errors: malformed application PDUs the decoders skipped;
# evicted_flows: flows the sensor's full flow table reported early (memory pressure);
# dropped_events: decoder events over the sensor's per-interval cap, not sent
COUNTERS = ("packets", "bytes", "parse_errors", "kernel_drops", "non_ip_packets", "decode_errors", "evicted_flows",
            "dropped_events")
LATER_COUNTERS = frozenset({"evicted_flows", "dropped_events"})  # added within version 3: a header without one reads 0


class WireError(ValueError):
    """A batch that does not follow this format; the message says why, ``reason`` in one word
    (a ``Reason``)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Batch:
    interval_start: datetime
    interval_end: datetime
    tables: dict[str, pa.Table]
    counters: dict[str, int] = field(default_factory=dict)
    batch_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sensor: str = ""  # informational (serial); the core trusts the token, not this

    def rows(self, name: str) -> int:
        return self.tables[name].num_rows


def empty_table(name: str) -> pa.Table:
    return TABLES[name].empty_table()


def table_from_rows(name: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=TABLES[name])


# -- flow identifiers, derived from the flow's record -----------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DERIVED = ("uid", "community_id", "duration")  # flow columns the core can work out from the rest


def _base62(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _BASE62[r] + out
    return out or "0"


def flow_uid(salt: str, proto: str, vlan: int, ethertype: int, start_us: int,
             end_a: tuple[str, int, str], end_b: tuple[str, int, str]) -> str:
    """Zeek-style uid ("C" + base62) of the flow that started at ``start_us`` between two
    (address, port, MAC) ends, whichever of them originated it."""
    return uid_text(flow_digest(salt, proto, vlan, ethertype, start_us, end_a, end_b))


def flow_digest(salt: str, proto: str, vlan: int, ethertype: int, start_us: int,
                end_a: tuple[str, int, str], end_b: tuple[str, int, str]) -> bytes:
    """The 12-byte digest under ``flow_uid`` (a flow table keeps it rather than the text)."""
    low, high = sorted((end_a, end_b))
    src = f"{salt}|{proto}|{vlan}|{ethertype}|{start_us}|{low}|{high}".encode()
    return hashlib.blake2b(src, digest_size=12).digest()


def uid_text(digest: bytes) -> str:
    return "C" + _base62(int.from_bytes(digest, "big"))


def flow_community_ids(flows: pa.Table) -> list[str]:
    """Community ID v1 (seed 0) of each row of a wire.FLOWS table ("" for L2 flows)."""
    return _community_id_array(flows).to_pylist()


def _community_id_array(flows: pa.Table) -> pa.StringArray:
    """Worked out flowuid.TEXT_SLICE rows at a time: their keys and SHA-1 inputs are ~500 bytes a row at once."""
    if flows.num_rows <= flowuid.TEXT_SLICE:
        return _community_ids_of(flows)
    return pa.concat_arrays([_community_ids_of(flows.slice(lo, flowuid.TEXT_SLICE))
                             for lo in range(0, flows.num_rows, flowuid.TEXT_SLICE)])


def _community_ids_of(flows: pa.Table) -> pa.StringArray:
    """Hashed once per distinct (protocol, addresses, ports): flows repeat them (a one-minute batch of
    the simulated plant has 551 among 1,311 flows: polls, ICMP, fixed-port UDP)."""
    orig, v6 = community.text_to_bytes(flows.column("orig_h"))
    resp, _ = community.text_to_bytes(flows.column("resp_h"))
    proto = community.protocol_numbers(flows.column("proto"))
    ports = [flows.column(n).to_numpy().astype(np.int64) for n in ("orig_p", "resp_p")]
    key = np.concatenate([orig, resp, v6[:, None], proto.astype(np.uint8)[:, None],
                          *(p.astype(">u2").view(np.uint8).reshape(-1, 2) for p in ports)], axis=1)
    _, first, inverse = np.unique(np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1]))).ravel(),
                                  return_index=True, return_inverse=True)
    ids = community.community_id_array(proto[first], v6[first], orig[first], resp[first],
                                       *(p[first] for p in ports))
    return ids.take(pa.array(inverse.ravel(), pa.int64()))


DERIVE_SLICE = 1 << 14  # flows whose derived columns are worked out at once
LOOKUP_SLICE = 1 << 13  # flows whose uids an event's flow row is looked up among at once


def _with_derived(flows: pa.Table, salt: str | pa.Array, combine) -> pa.Table:
    """``flows`` (wire.FLOWS names) with each DERIVED column replaced by ``combine(column, derived)``, the
    derived values worked out from the other columns DERIVE_SLICE rows at a time and combined slice by
    slice: their hash inputs are text columns (100,000 flows at once: ~60 MB of temporaries), and the
    derived texts of 100,000 flows are themselves ~7 MB."""
    parts = {name: [] for name in DERIVED}
    for lo in range(0, max(flows.num_rows, 1), DERIVE_SLICE):
        part = flows.slice(lo, DERIVE_SLICE)
        derived = _derive(part, salt.slice(lo, DERIVE_SLICE) if isinstance(salt, pa.Array) else salt)
        for name in DERIVED:
            parts[name] += combine(part.column(name), derived[name]).chunks
    for name in DERIVED:
        column = pa.chunked_array(parts.pop(name), flows.schema.field(name).type).combine_chunks()
        flows = flows.set_column(flows.schema.get_field_index(name), name, column)
    return flows


def _derive(flows: pa.Table, salt: str | pa.Array) -> dict[str, pa.Array]:
    """DERIVED columns as worked out from the other columns of ``flows``."""
    start = flows.column("ts").cast(pa.int64()).to_numpy()
    end = flows.column("ts_end").cast(pa.int64()).to_numpy()
    return {"uid": flowuid.flow_uids(flows, salt), "community_id": _community_id_array(flows),
            "duration": pa.array((end - start) / 1_000_000, pa.float64())}


# -- the compact form the tables travel in ---------------------------------------------------


def _narrow(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """An integer column in the narrowest type of its signedness that holds its values."""
    if not len(col) or col.null_count == len(col):
        return col
    lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
    types = (pa.uint8(), pa.uint16(), pa.uint32()) if pa.types.is_unsigned_integer(col.type) else (
        pa.int8(), pa.int16(), pa.int32())
    for t in types:
        info = np.iinfo(t.to_pandas_dtype())
        if info.min <= lo and hi <= info.max:
            return col.cast(t)
    return col


def _dictionary(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A string column dictionary-encoded, with the narrowest indices its dictionary allows."""
    encoded = pc.dictionary_encode(col.combine_chunks())
    size = len(encoded.dictionary)
    index = pa.int8() if size <= 127 else pa.int16() if size <= 32767 else pa.int32()
    return pa.chunked_array([encoded.cast(pa.dictionary(index, pa.string()))])


def _compact(tables: dict[str, pa.Table], name: str, start_us: int, give_back: bool = False) -> pa.Table:
    """``tables[name]``, taken out of ``tables``, in its compact form: one column at a time, each original
    column let go once its compact one is built (nothing else holding it, the table's memory is given
    back as it goes rather than held beside the compact table). ``give_back``: the C heap's free pages
    returned first and before each column of heap.WORTH bytes or more, whose compact form is one new block
    the holes left by what went before do not fit (100,000 flows and 80,000 events: 3-4 MB less at the
    encode's high-water mark)."""
    table = tables.pop(name)
    names, cols = table.schema.names, table.columns
    table = None
    if give_back:
        heap.give_back()
    for i in range(len(cols)):
        if give_back and i and cols[i].nbytes >= heap.WORTH:
            heap.give_back()
        cols[i] = _compact_column(cols[i], start_us)
    return pa.table(cols, names=names)


def _compact_column(col: pa.ChunkedArray, start_us: int) -> pa.Array:
    """One column in its compact type, as one array (the table travels as one record batch, however it was built)."""
    if pa.types.is_timestamp(col.type):
        col = pc.subtract(col.cast(pa.int64()), start_us)
    if pa.types.is_integer(col.type):
        col = _narrow(col)
    elif pa.types.is_string(col.type):
        col = _dictionary(col)
    return col.combine_chunks()


def _expand(table: pa.Table, schema: pa.Schema, start_us: int | np.ndarray) -> pa.Table:
    """The compact ``table`` back in ``schema``'s types (ArrowInvalid or KeyError when it cannot be):
    each column cast (dictionaries to strings, integers widened, times to int64), the times then
    offset by ``start_us`` (checked), one number or one per row (several batches joined, each from
    its own interval start). One call per column whatever the number of batches joined: a group's
    tables are expanded once, not once per batch (the calls, not the rows, are a small batch's cost)."""
    times = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    wide = pa.schema([(f.name, pa.int64() if f.name in times else f.type) for f in schema])
    table = table.select(schema.names)
    try:  # one dictionary per column, so each is cast as one chunk (half the CPU of chunk by chunk)
        table = table.unify_dictionaries().combine_chunks()
    except pa.ArrowInvalid:  # the joined dictionaries outgrow an index type: cast chunk by chunk
        pass
    cols = dict(zip(schema.names, table.cast(wide).combine_chunks().columns))
    for name in times:
        added = pc.add_checked(cols[name], _per_row(start_us))
        kind = schema.field(name).type
        cols[name] = pa.chunked_array([chunk.view(kind) for chunk in added.chunks], kind)
    return pa.table(list(cols.values()), schema=schema)


def _unless_equal(col: pa.ChunkedArray, other: pa.Array) -> pa.ChunkedArray:
    """``col`` with null where it equals ``other``; the nulls come from an all-null array, so no
    value hides under them (it would still travel)."""
    same = pc.fill_null(pc.equal(col, other), False)
    return pc.if_else(same, pa.nulls(len(col), col.type), col)


def _wire_tables(batch: Batch, consume: bool = False) -> dict[str, pa.Table]:
    """The compact form of ``batch``'s tables, each original let go as its compact form is built when
    ``consume`` (``batch.tables`` is then emptied): the events first, as they name their flows' rows by
    the flows' uids, then the flows, whose uid and Community ID texts go as soon as they are compared."""
    tables = batch.tables if consume else dict(batch.tables)
    give_back = consume and sum(table.nbytes for table in tables.values()) >= heap.WORTH
    for name in TABLES:
        if not tables[name].schema.equals(TABLES[name]):
            tables[name] = tables[name].cast(TABLES[name])
    events = tables["events"]
    flow = _first_rows(events.column("uid"), tables["flows"].column("uid"))
    # the uid travels only for an event of no flow of the batch
    events = events.set_column(events.schema.get_field_index("uid"), "uid",
                               pc.if_else(pc.is_null(flow), events.column("uid"), pa.scalar(None, pa.string())))
    tables["events"], events, flow = events.append_column("flow", flow), None, None
    start_us = _micros(batch.interval_start)
    compact = {"events": _compact(tables, "events", start_us, give_back)}
    if give_back:  # what the events held, free now, not kept resident beside the flows' derivation
        heap.give_back()
    tables["flows"] = _with_derived(tables.pop("flows"), batch.sensor, _unless_equal)
    compact["flows"] = _compact(tables, "flows", start_us, give_back)
    compact["observations"] = _compact(tables, "observations", start_us)
    if give_back:  # nor what the flows held beside the frame's content
        heap.give_back()
    return {name: compact[name] for name in TABLES}


def _first_rows(uids: pa.ChunkedArray, flow_uids: pa.ChunkedArray) -> pa.Array:
    """Each of ``uids``' row in ``flow_uids``, the first with it (null: none, zero beneath), looked up LOOKUP_SLICE
    flows at a time: a lookup's hash table of 100,000 uids is ~8 MB (no Python object per flow or event either way)."""
    rows = np.full(len(uids), -1, np.int64)
    for lo in range(0, len(flow_uids), LOOKUP_SLICE):
        found = pc.index_in(uids, value_set=flow_uids.slice(lo, LOOKUP_SLICE)).fill_null(-1).to_numpy()
        first = (rows < 0) & (found >= 0)
        rows[first] = found[first] + lo
    none = rows < 0
    rows[none] = 0
    return pa.array(rows, mask=none)


def _expand_all(wire_tables: dict[str, pa.Table], window: _Window) -> tuple[dict[str, pa.Table], pa.Array]:
    """The compact tables back in TABLES' types, derived columns still null where they were left
    out, and the flow row each event names among the tables' flows (ArrowInvalid or KeyError when
    they cannot be)."""
    tables = {name: _expand(wire_tables[name], TABLES[name], window.start[name]) for name in TABLES}
    flow = wire_tables["events"].column("flow").cast(pa.int64()).combine_chunks()  # compact: a signed integer
    if pc.any(pc.or_(pc.less(flow, 0), pc.greater_equal(flow, _per_row(window.flows)))).as_py():  # null: no row
        raise KeyError("an event names a flow row the batch does not have")
    return tables, pc.add(flow, _per_row(window.first_flow))


def _per_row(value: int | np.ndarray) -> int | pa.Array:
    """A ``_Window`` value as a compute function takes it."""
    return value if isinstance(value, int) else pa.array(value)


def _resolve(tables: dict[str, pa.Table], flow: pa.Array, salt: str | pa.Array) -> dict[str, pa.Table]:
    """Fill in what the compact form left out: derived flow columns and the uids events name."""
    flows, events = _with_derived(tables["flows"], salt, pc.coalesce), tables["events"]
    uid = pc.coalesce(events.column("uid"), flows.column("uid").take(flow))  # a null row number takes null
    events = events.set_column(events.schema.get_field_index("uid"), "uid", uid)
    return tables | {"flows": flows, "events": events}


@functools.cache
def zstd_prefix() -> zstandard.ZstdCompressionDict:
    """What every batch repeats (the tables' schemas in their compact form) as a zstd prefix both
    ends build from TABLES, so a batch does not pay for it. A change to TABLES is a new VERSION
    anyway; a frame compressed without it (version 1) decompresses the same."""
    empty = Batch(datetime.fromtimestamp(0, timezone.utc), datetime.fromtimestamp(0, timezone.utc),
                  {name: empty_table(name) for name in TABLES})
    schemas = b"".join(_ipc_bytes(t) for t in _wire_tables(empty).values())
    return zstandard.ZstdCompressionDict(schemas, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def _micros(t: datetime) -> int:
    return round(t.timestamp() * 1_000_000)


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    _write_ipc(sink, table)
    return sink.getvalue()


def _write_ipc(sink, table: pa.Table) -> None:
    """``table`` as an Arrow IPC stream."""
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _ipc_size(table: pa.Table) -> int:
    sink = pa.MockOutputStream()
    _write_ipc(sink, table)
    return sink.size()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()


# zstd level by a batch's uncompressed size: level 19 costs ~0.25 s per MB, 9 ~0.07, 6 ~0.015, 3
# ~0.007, and the bytes saved shrink as batches grow (bench/README.md has the measured curve), so a
# busy site's batch is packed in about a second rather than half a minute
LEVELS = ((4 << 20, 19), (16 << 20, 9), (64 << 20, 6))
LARGE_LEVEL = 3


def level_for(size: int) -> int:
    """The zstd level for a batch of ``size`` uncompressed bytes."""
    return next((level for limit, level in LEVELS if size <= limit), LARGE_LEVEL)


def encode(batch: Batch, level: int | None = None, consume: bool = False) -> bytes:
    """``batch`` as a wire frame, compressed at ``level`` (default: ``level_for`` its size). ``consume``
    empties ``batch.tables``, each table let go as its compact form is built, for a caller that keeps only
    the frame: the batch is then not held beside its compact form, the frame's content and the output."""
    header = {
        "version": VERSION,
        "batch_id": batch.batch_id,
        "sensor": batch.sensor,
        "interval_start": _iso(batch.interval_start),
        "interval_end": _iso(batch.interval_end),
        "rows": {name: batch.tables[name].num_rows for name in TABLES},
        "counters": {k: int(batch.counters.get(k, 0)) for k in COUNTERS},
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    compact = _wire_tables(batch, consume)
    content = _content(MAGIC + struct.pack("<BI", VERSION, len(head)) + head, compact)
    level = level_for(content.size) if level is None else level
    return zstandard.ZstdCompressor(level=level, dict_data=zstd_prefix(), write_checksum=True).compress(content)


def _content(start: bytes, compact: dict[str, pa.Table]) -> pa.Buffer:
    """A frame's uncompressed content: ``start``, then each table's length and IPC stream, written
    into one buffer of its exact size (measured first), each compact table let go once written: no
    piece is joined or copied (100,000 flows and 80,000 events: 11 MB, held two or three times)."""
    sizes = {name: _ipc_size(table) for name, table in compact.items()}
    content = pa.allocate_buffer(len(start) + sum(8 + size for size in sizes.values()))
    sink = pa.FixedSizeBufferWriter(content)
    sink.write(start)
    for name in TABLES:
        sink.write(struct.pack("<Q", sizes[name]))
        _write_ipc(sink, compact.pop(name))
    if sink.tell() != content.size:  # (an IPC stream's size is its own: where it is written does not change it)
        raise RuntimeError(f"wrote {sink.tell()} bytes of a {content.size}-byte frame content")
    return content


class Reason:
    """The kinds of WireError, one word each (the core's low-cardinality metric labels)."""
    NOT_ZSTD, CHECKSUM, TOO_LARGE, MAGIC, VERSION = "not_zstd", "bad_checksum", "too_large", "bad_magic", "bad_version"
    HEADER, TIME, TRUNCATED, ARROW, SCHEMA, ROWS, VALUE = (
        "bad_header", "bad_time", "truncated", "bad_arrow", "schema_mismatch", "row_count_mismatch", "bad_value")


@dataclass(frozen=True)
class TimeBounds:
    """The times a batch may speak of (the core's clock minus the oldest age it takes, plus the
    clock skew it allows); interval and row times outside are refused."""
    earliest: datetime
    latest: datetime


MAX_INTERVAL_S = 86_400  # the longest interval a batch may cover (economy intervals are minutes)
MAX_HEADER = 64 * 1024
CHUNK = 1 << 20
_UNRESOLVED = frozenset({("flows", name) for name in DERIVED} | {("events", "uid")})


class _Frame:
    """The decompressed content of a frame, read in order and in pieces of at most CHUNK bytes: a
    piece is inflated only once what comes before it has passed its checks, and no more than
    ``limit`` bytes in all, whatever sizes the frame and the batch claim."""

    def __init__(self, reader: zstandard.ZstdDecompressionReader, limit: int):
        self.reader, self.limit, self.left = reader, limit, limit

    def read(self, n: int, what: str) -> memoryview:
        if n > self.left:
            raise WireError(Reason.TOO_LARGE, f"batch larger than the {self.limit} bytes taken once decompressed "
                                              f"({what} needs {n} more, {self.left} left)")
        out = io.BytesIO()
        while out.tell() < n and (chunk := self.reader.read(min(CHUNK, n - out.tell()))):
            out.write(chunk)
        self.left -= out.tell()
        if out.tell() < n:
            raise WireError(Reason.TRUNCATED, f"{what} truncated")
        return out.getbuffer()  # the buffer itself, not a copy of it

    def ended(self) -> bool:
        """Whether the content ends here (reading to the end verifies the frame's checksum)."""
        return not self.reader.read(1)


def decode(data: bytes, max_size: int = MAX_DECOMPRESSED, bounds: TimeBounds | None = None) -> Batch:
    """Parse and validate a batch completely; raise WireError naming the first problem found.
    Values are touched only once Arrow has fully validated every table and its types are the ones
    ``encode`` writes, so no input reaches a compute kernel in a shape it cannot handle."""
    (done,) = complete([parse(data, max_size, bounds)])
    if isinstance(done, WireError):
        raise done
    return done


@dataclass
class Parsed:
    """A batch read and its tables' types checked (``parse``); its tables are expanded, its values
    checked and its derived columns filled in by ``complete``, for many batches at once."""
    interval_start: datetime
    interval_end: datetime
    tables: dict[str, pa.Table]  # as they travelled: the compact form, or version 1's TABLES
    counters: dict[str, int]
    batch_id: str
    sensor: str
    compact: bool  # False: version 1, nothing to expand or resolve
    bounds: TimeBounds | None

    def rows(self, name: str) -> int:
        return self.tables[name].num_rows


def parse(data: bytes, max_size: int = MAX_DECOMPRESSED, bounds: TimeBounds | None = None) -> Parsed:
    """The first half of ``decode``: the frame, header and tables read, validated and their types
    checked (raises WireError); ``complete`` does the rest."""
    return _guarded(_decode, data, max_size, bounds)


def complete(parsed: list[Parsed]) -> list[Batch | WireError]:
    """The second half of ``decode`` for each parsed batch: tables expanded, every value checked,
    derived columns filled in — the batch, or the WireError naming its first problem. Expanded,
    checked and derived in one pass over all their rows (the Arrow calls, not their rows, are most
    of a small batch's cost); if that finds a problem, each batch again on its own, so a bad batch
    fails alone."""
    if len(parsed) > 1:
        try:
            return _split(_completed(*_joined(parsed)), parsed)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - at least one of them is bad: found below, one by one
            pass
    out: list[Batch | WireError] = []
    for p in parsed:
        try:
            out.append(_guarded(_complete, p))
        except WireError as exc:
            out.append(exc.with_traceback(None))  # caught, it held frames with the batch's tables again
    return out


def _guarded(step, *args):
    """``step(*args)``, any failure but the core's own (MemoryError) a WireError."""
    try:
        return step(*args)
    except WireError as exc:
        error = exc
    except MemoryError:  # the core's trouble, not the batch's
        raise
    except Exception as exc:  # noqa: BLE001 - hostile input: any other failure is still the batch's
        error = WireError(Reason.VALUE, f"malformed batch ({type(exc).__name__}: {str(exc)[:200]})")
    # Raised bare: a traceback (or a chained exception's) would keep the decompressed content
    # alive in its frames, in reference cycles that only a full garbage collection frees.
    error.__context__ = error.__cause__ = None
    raise error.with_traceback(None)


def _decode(data: bytes, max_size: int, bounds: TimeBounds | None) -> Parsed:
    try:
        has_checksum = zstandard.get_frame_parameters(data).has_checksum
        with zstandard.ZstdDecompressor(dict_data=zstd_prefix()).stream_reader(data) as reader:
            return _parse(_Frame(reader, max_size), has_checksum, bounds)
    except zstandard.ZstdError as exc:
        reason = Reason.CHECKSUM if "checksum" in str(exc) else Reason.NOT_ZSTD
        raise WireError(reason, f"not a zstd frame: {exc}") from None


def _parse(frame: _Frame, has_checksum: bool, bounds: TimeBounds | None) -> Batch:
    if frame.read(4, "magic") != MAGIC:
        raise WireError(Reason.MAGIC, "bad magic: not a mieruka batch")
    version, head_len = struct.unpack("<BI", frame.read(5, "header"))
    if version not in READABLE_VERSIONS:
        raise WireError(Reason.VERSION, f"unsupported batch version {version} (this core reads {READABLE_VERSIONS})")
    if version >= 3 and not has_checksum:
        raise WireError(Reason.CHECKSUM, f"a version {version} frame must carry its content checksum")
    if head_len > MAX_HEADER:
        raise WireError(Reason.HEADER, f"bad header: {head_len} bytes long")
    start, end, batch_id, sensor, rows, counters = _header(bytes(frame.read(head_len, "header")), version, bounds)
    tables = {}
    for name in TABLES:
        (length,) = struct.unpack("<Q", frame.read(8, f"table {name}"))
        tables[name] = _arrow_table(name, frame.read(length, f"table {name}"), rows[name])
    if not frame.ended():
        raise WireError(Reason.TRUNCATED, "trailing bytes after last table")
    try:
        if version > 1:
            _check_compact_types(tables)
            tables = {name: _one_chunk(name, table) for name, table in tables.items()}
        else:
            tables = _upgrade_v1(tables)
    except (pa.ArrowException, KeyError) as exc:
        raise WireError(Reason.SCHEMA, f"table schema mismatch: {exc}") from None
    return Parsed(start, end, tables, counters, batch_id, sensor, version > 1, bounds)


def _complete(p: Parsed) -> Batch:
    """Expand one parsed batch, check its values and fill in what it left out."""
    earliest = _micros(p.bounds.earliest) if p.bounds else None
    window = _Window(*(dict.fromkeys(TABLES, _micros(t)) for t in (p.interval_start, p.interval_end)), earliest,
                     0, p.rows("flows"))
    tables = _completed(p.tables, p.compact, p.sensor, window)
    return Batch(p.interval_start, p.interval_end, tables, p.counters, p.batch_id, p.sensor)


@dataclass(frozen=True)
class _Window:
    """What each row's batch allows, one number for one batch or an array of one per row for several:
    the times rows may speak of, in microseconds — per table, the interval start and end, and the
    oldest time a flow may have (None: no limit) — and the flow rows an event may name, from
    ``first_flow`` (its batch's first row among the joined flows), ``flows`` of them."""
    start: dict[str, int | np.ndarray]
    end: dict[str, int | np.ndarray]
    earliest: int | np.ndarray | None
    first_flow: int | np.ndarray
    flows: int | np.ndarray


def _completed(tables: dict[str, pa.Table], compact: bool, salt: str | pa.Array,
               window: _Window) -> dict[str, pa.Table]:
    """``tables`` expanded from their compact form, every value checked and the derived columns filled in."""
    if not compact:
        tables = {name: table.combine_chunks() for name, table in tables.items()}
        _check_values(tables, window)
        return tables
    try:
        tables, flow = _expand_all(tables, window)
    except (pa.ArrowException, KeyError) as exc:
        raise WireError(Reason.SCHEMA, f"table schema mismatch: {exc}") from None
    _check_values(tables, window)  # before deriving: derivations parse addresses and protocols
    tables = _resolve(tables, flow, salt)
    if tables["events"]["uid"].null_count:
        raise WireError(Reason.VALUE, "events.uid: an event names neither a uid nor a flow row")
    return tables


def _joined(parsed: list[Parsed]) -> tuple[dict[str, pa.Table], bool, pa.Array, _Window]:
    """Several parsed batches as one set of tables, for ``_completed``: each row keeps its own
    batch's interval, time bounds and uid salt, and each event its batch's flows. Compact tables
    are joined as they travelled, each column in the widest type any of them has (the per-column
    checks of ``parse`` admit nothing that cannot be widened)."""
    def per_row(name: str, values: list) -> np.ndarray:
        return np.repeat(np.array(values, np.int64), [p.rows(name) for p in parsed])

    if len({p.compact for p in parsed}) > 1:
        raise ValueError("version 1 batches beside later ones")  # completed one by one instead
    tables = {name: pa.concat_tables([p.tables[name] for p in parsed], promote_options="permissive")
              for name in TABLES}
    starts, ends = [_micros(p.interval_start) for p in parsed], [_micros(p.interval_end) for p in parsed]
    oldest = [_micros(p.bounds.earliest) if p.bounds else np.iinfo(np.int64).min for p in parsed]
    flows = [p.rows("flows") for p in parsed]  # each batch's flow rows follow those of the batches before it
    window = _Window({name: per_row(name, starts) for name in TABLES}, {name: per_row(name, ends) for name in TABLES},
                     per_row("flows", oldest), per_row("events", np.cumsum([0] + flows[:-1])), per_row("events", flows))
    salt = pa.array(np.repeat(np.array([p.sensor for p in parsed], object), flows), pa.string())
    return tables, parsed[0].compact, salt, window


def _split(tables: dict[str, pa.Table], parsed: list[Parsed]) -> list[Batch]:
    """The completed tables of ``parsed`` joined, as one batch per parsed batch."""
    out, at = [], dict.fromkeys(TABLES, 0)
    for p in parsed:
        mine = {name: tables[name].slice(at[name], p.rows(name)) for name in TABLES}
        at = {name: at[name] + p.rows(name) for name in TABLES}
        out.append(Batch(p.interval_start, p.interval_end, mine, p.counters, p.batch_id, p.sensor))
    return out


def _header(text: bytes, version: int, bounds: TimeBounds | None):
    """The header's fields, each checked for type and range."""
    def bad(why: str) -> WireError:
        return WireError(Reason.HEADER, f"bad header: {why}")

    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise bad(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise bad("not a JSON object")
    if header.get("version") != version:
        raise bad(f"version {header.get('version')!r} differs from the frame's {version}")
    try:
        batch_id = str(uuid.UUID(_typed(header, "batch_id", str)))
        sensor = header.get("sensor", "")
        if not isinstance(sensor, str) or len(sensor) > 200:
            raise bad("sensor is not a short string")
        start, end = (_aware_time(_typed(header, k, str)) for k in ("interval_start", "interval_end"))
        rows, sent = _typed(header, "rows", dict), _typed(header, "counters", dict)
        rows = {name: _count(rows, name, 2**31 - 1) for name in TABLES}
        counters = {k: _count(sent, k, batchcheck.MAX_COUNTER) if k in sent or (version > 1 and k not in LATER_COUNTERS)
                    else 0 for k in COUNTERS}  # v1 lacks decode_errors; older senders the LATER_COUNTERS
    except (ValueError, KeyError, TypeError) as exc:
        raise bad(repr(exc)) from None
    if end < start:
        raise WireError(Reason.TIME, f"interval_end before interval_start")
    if (end - start).total_seconds() > MAX_INTERVAL_S:
        raise WireError(Reason.TIME, f"interval longer than {MAX_INTERVAL_S} s")
    if bounds and (start < bounds.earliest or end > bounds.latest):
        raise WireError(Reason.TIME, f"interval {_iso(start)}..{_iso(end)} outside what this core takes "
                        f"({_iso(bounds.earliest)}..{_iso(bounds.latest)})")
    return start, end, batch_id, sensor, rows, counters


def _typed(header: dict, key: str, kind: type):
    value = header[key]
    if not isinstance(value, kind):
        raise TypeError(f"{key} is {type(value).__name__}, not {kind.__name__}")
    return value


def _count(values: dict, key: str, top: int) -> int:
    value = values[key]
    if type(value) is not int or not 0 <= value <= top:  # bool is an int subclass: refused too
        raise ValueError(f"{key} = {value!r} is not an integer in 0..{top}")
    return value


def _aware_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone")
    return t.astimezone(timezone.utc)


def _arrow_table(name: str, body: memoryview, rows: int) -> pa.Table:
    """One IPC stream as a table, fully validated (offsets, dictionary indices, UTF-8) before any
    value is read: unvalidated IPC data can crash a compute kernel."""
    try:
        table = ipc.open_stream(pa.py_buffer(body)).read_all()
        table.validate(full=True)
    # pyarrow raises OSError for some damaged IPC, UnicodeDecodeError for undecodable field names
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise WireError(Reason.ARROW, f"table {name} is not valid Arrow IPC: {str(exc)[:300]}") from None
    if table.num_rows != rows:
        raise WireError(Reason.ROWS, f"table {name} has {table.num_rows} rows, header says {rows}")
    return table


def _check_values(tables: dict[str, pa.Table], window: _Window) -> None:
    """Every value in its column's domain, and no nulls but where the compact form leaves them."""
    try:
        batchcheck.no_nulls(tables, skip=_UNRESOLVED)
        batchcheck.flows(tables["flows"], window.end["flows"], window.earliest)
        batchcheck.events(tables["events"], window.start["events"], window.end["events"])
        batchcheck.observations(tables["observations"], window.start["observations"], window.end["observations"])
    except batchcheck.BadTime as exc:
        raise WireError(Reason.TIME, str(exc)) from None
    except batchcheck.BadValue as exc:
        raise WireError(Reason.VALUE, str(exc)) from None


def _compact_type_ok(want: pa.DataType, got: pa.DataType) -> bool:
    """Whether ``got`` is a type ``_compact`` can write for a ``want`` column."""
    if pa.types.is_timestamp(want):
        return pa.types.is_signed_integer(got)
    if pa.types.is_unsigned_integer(want):
        return pa.types.is_unsigned_integer(got) and got.bit_width <= want.bit_width
    if pa.types.is_signed_integer(want):
        return pa.types.is_signed_integer(got) and got.bit_width <= want.bit_width
    if pa.types.is_string(want):
        return (pa.types.is_dictionary(got) and pa.types.is_signed_integer(got.index_type) and not got.ordered
                and got.index_type.bit_width <= 32 and pa.types.is_string(got.value_type))
    return got.equals(want)


def _one_chunk(name: str, table: pa.Table) -> pa.Table:
    """The table as one record batch, as ``encode`` writes it, here in the upload's own decode slot: a
    group's ``complete`` would otherwise pay for a batch's many chunks. No dictionary may hold more
    entries than the table has rows (``encode`` writes the values the rows use): joining a group's
    dictionaries reads every entry, so unused ones would cost every batch of the group."""
    _no_unused_entries(name, table)  # before joining them: refused at the cost of a length
    if not table.num_columns or table.column(0).num_chunks <= 1:  # read from IPC: every column chunked alike
        return table
    table = table.combine_chunks()
    _no_unused_entries(name, table)
    return table


def _no_unused_entries(name: str, table: pa.Table) -> None:
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_dictionary(field.type) and any(len(c.dictionary) > table.num_rows for c in column.chunks):
            raise KeyError(f"{name}.{field.name} has more dictionary entries than the table has rows")


def _check_compact_types(tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        schema = table.schema
        if any(schema.equals(ok) for ok in _COMPACT_SEEN[name]):  # a sensor sends the same few schemas
            continue
        want = TABLES[name].append(pa.field("flow", pa.int64())) if name == "events" else TABLES[name]
        if schema.names != want.names:
            raise KeyError(f"{name} columns {schema.names}")
        for f, got in zip(want, schema.types):
            if not _compact_type_ok(f.type, got):
                raise KeyError(f"{name}.{f.name} is {got}, not a compact {f.type}")
        _COMPACT_SEEN[name] = (schema, *_COMPACT_SEEN[name][:COMPACT_SEEN - 1])  # one assignment: thread-safe


# The compact schemas most recently found good, per table: checking a batch's against them costs
# a comparison (~0.1 µs) instead of the per-column checks (~40 µs a table).
COMPACT_SEEN = 32
_COMPACT_SEEN: dict[str, tuple[pa.Schema, ...]] = dict.fromkeys(TABLES, ())


def _upgrade_v1(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Version 1 sent TABLES as they were, without the event count and last time."""
    for name, table in tables.items():
        want = TABLES[name] if name != "events" else pa.schema([f for f in EVENTS if f.name not in ("ts_end", "count")])
        if not table.schema.equals(want):
            raise KeyError(f"{name} columns {table.schema.names}")
    events = tables["events"]
    events = events.add_column(1, "ts_end", events.column("ts")).add_column(
        2, "count", pa.array(np.ones(events.num_rows, np.uint32)))
    return tables | {"events": events}
