"""The batch wire format shared by sensor and core (the only module core imports from sensor).

A batch is one sensor's records for one interval. On the wire it is a zstd frame holding:

    b"MRKB" | u8 version | u32 header length | header (UTF-8 JSON)
    then, for each table in TABLES order: u64 length | Arrow IPC stream

The header names the batch (``batch_id``, stable across resends so the core can deduplicate), the
interval, the row count of each table and the capture counters for the interval.

The tables travel in a compact form of TABLES that ``decode`` turns back into exactly the tables
``encode`` was given (version 2; version 1 batches, sent as TABLES themselves, are still read):
strings are dictionary-encoded, times are microseconds from the interval start, integers take the
narrowest type holding their values, a flow's ``uid``, ``community_id`` and ``duration`` are null
wherever they equal what ``flow_uid``, ``community_id`` and ts_end − ts give for the row, and an
event names its flow by row number (``flow``) instead of by uid.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import communityid
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import zstandard

MAGIC = b"MRKB"
VERSION = 2
READABLE_VERSIONS = (1, 2)
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
        ("ts_end", TS),  # the last (sensor.fold folds repeated events into one row)
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

# parse_errors: damaged frames; decode_errors: malformed application PDUs the decoders skipped
COUNTERS = ("packets", "bytes", "parse_errors", "kernel_drops", "non_ip_packets", "decode_errors")


class WireError(ValueError):
    """A batch that does not follow this format; the message says why."""


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
_IP_PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
_CID = communityid.CommunityID(seed=0)
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
    low, high = sorted((end_a, end_b))
    src = f"{salt}|{proto}|{vlan}|{ethertype}|{start_us}|{low}|{high}".encode()
    return "C" + _base62(int.from_bytes(hashlib.blake2b(src, digest_size=12).digest(), "big"))


@functools.lru_cache(maxsize=1 << 16)
def community_id(proto: str, orig_h: str, resp_h: str, orig_p: int, resp_p: int) -> str:
    """Community ID v1 (seed 0) of a flow record (Zeek's ICMP convention: ports are type and code)."""
    number = _IP_PROTOCOLS.get(proto) or (int(proto) if proto.isdigit() else 0)
    if not number:  # an L2 flow
        return ""
    if number == 1:
        tpl = communityid.FlowTuple.make_icmp(orig_h, resp_h, orig_p, resp_p)
    elif number == 58:
        tpl = communityid.FlowTuple.make_icmp6(orig_h, resp_h, orig_p, resp_p)
    elif number in (6, 17, 132):
        tpl = communityid.FlowTuple(number, orig_h, resp_h, orig_p, resp_p)
    else:
        tpl = communityid.FlowTuple(number, orig_h, resp_h)
    return _CID.calc(tpl)


def _derive(flows: pa.Table, salt: str) -> dict[str, pa.Array]:
    """DERIVED columns as worked out from the other columns of ``flows`` (wire.FLOWS names)."""
    c = {n: flows.column(n).to_pylist() for n in ("vlan", "orig_h", "orig_p", "resp_h", "resp_p", "proto",
                                                 "ethertype", "orig_l2_addr", "resp_l2_addr")}
    start = flows.column("ts").cast(pa.int64()).to_numpy()
    end = flows.column("ts_end").cast(pa.int64()).to_numpy()
    rows = zip(c["proto"], c["vlan"], c["ethertype"], start.tolist(), c["orig_h"], c["orig_p"], c["orig_l2_addr"],
               c["resp_h"], c["resp_p"], c["resp_l2_addr"])
    uids = [flow_uid(salt, proto, vlan, et, ts, (oh, op, om), (rh, rp, rm))
            for proto, vlan, et, ts, oh, op, om, rh, rp, rm in rows]
    cids = [community_id(*row) for row in zip(c["proto"], c["orig_h"], c["resp_h"], c["orig_p"], c["resp_p"])]
    return {"uid": pa.array(uids, pa.string()), "community_id": pa.array(cids, pa.string()),
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


def _compact(table: pa.Table, start_us: int) -> pa.Table:
    cols = []
    for f, col in zip(table.schema, table.columns):
        if pa.types.is_timestamp(f.type):
            col = pc.subtract(col.cast(pa.int64()), start_us)
        if pa.types.is_integer(col.type):
            col = _narrow(col)
        elif pa.types.is_string(col.type):
            col = _dictionary(col)
        cols.append(col)
    return pa.table(cols, names=table.schema.names)


def _expand(table: pa.Table, schema: pa.Schema, start_us: int) -> pa.Table:
    """The compact ``table`` back in ``schema``'s types (ArrowInvalid or KeyError when it cannot be)."""
    cols = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_timestamp(f.type):
            col = pc.add(col.cast(pa.int64()), start_us).cast(f.type)
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=schema)


def _unless_equal(col: pa.ChunkedArray, other: pa.Array) -> pa.ChunkedArray:
    """``col`` with null where it equals ``other``; the nulls come from an all-null array, so no
    value hides under them (it would still travel)."""
    same = pc.fill_null(pc.equal(col, other), False)
    return pc.if_else(same, pa.nulls(len(col), col.type), col)


def _wire_tables(batch: Batch) -> dict[str, pa.Table]:
    flows = batch.tables["flows"]
    derived = _derive(flows, batch.sensor)
    for name in DERIVED:
        flows = flows.set_column(flows.schema.get_field_index(name), name,
                                 _unless_equal(flows.column(name), derived[name]))
    row_of = {uid: i for i, uid in reversed(list(enumerate(batch.tables["flows"].column("uid").to_pylist())))}
    events = batch.tables["events"]
    uids = events.column("uid").to_pylist()
    flow = [row_of.get(uid) for uid in uids]  # the uid travels only for an event of no flow of the batch
    events = events.set_column(events.schema.get_field_index("uid"), "uid",
                               pa.array([u if f is None else None for f, u in zip(flow, uids)], pa.string()))
    events = events.append_column("flow", pa.array(flow, pa.int64()))
    start_us = _micros(batch.interval_start)
    return {name: _compact(table, start_us) for name, table in
            {"flows": flows, "events": events, "observations": batch.tables["observations"]}.items()}


def _tables_from_wire(wire_tables: dict[str, pa.Table], start: datetime, salt: str) -> dict[str, pa.Table]:
    start_us = _micros(start)
    flows = _expand(wire_tables["flows"], FLOWS, start_us)
    derived = _derive(flows, salt)
    for name in DERIVED:
        flows = flows.set_column(flows.schema.get_field_index(name), name,
                                 pc.coalesce(flows.column(name), derived[name]))
    events = _expand(wire_tables["events"], EVENTS, start_us)
    flow = wire_tables["events"].column("flow").cast(pa.int64())
    if pc.any(pc.or_(pc.less(flow, 0), pc.greater_equal(flow, flows.num_rows))).as_py():
        raise KeyError("an event names a flow row the batch does not have")
    uid = pc.coalesce(events.column("uid"), flows.column("uid").take(flow))  # a null row number takes null
    events = events.set_column(events.schema.get_field_index("uid"), "uid", uid)
    return {"flows": flows, "events": events, "observations": _expand(wire_tables["observations"],
                                                                      OBSERVATIONS, start_us)}


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
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()


def encode(batch: Batch, level: int = 19) -> bytes:
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
    parts = [MAGIC, struct.pack("<BI", VERSION, len(head)), head]
    tables = {name: t if t.schema.equals(TABLES[name]) else t.cast(TABLES[name]) for name, t in batch.tables.items()}
    for body in map(_ipc_bytes, _wire_tables(replace(batch, tables=tables)).values()):
        parts += [struct.pack("<Q", len(body)), body]
    return zstandard.ZstdCompressor(level=level, dict_data=zstd_prefix()).compress(b"".join(parts))


def _bounded_decompress(data: bytes, limit: int) -> bytes:
    """Decompress at most `limit` bytes, whatever size the frame claims."""
    out = bytearray()
    with zstandard.ZstdDecompressor(dict_data=zstd_prefix()).stream_reader(data) as reader:
        while len(out) < limit and (chunk := reader.read(min(1 << 20, limit - len(out)))):
            out += chunk
    return bytes(out)


def decode(data: bytes, max_size: int = MAX_DECOMPRESSED) -> Batch:
    """Parse and validate a batch; raise WireError naming the first problem found."""
    try:
        raw = _bounded_decompress(data, max_size + 1)
    except zstandard.ZstdError as exc:
        raise WireError(f"not a zstd frame: {exc}") from None
    if len(raw) > max_size:
        raise WireError(f"batch larger than {max_size} bytes once decompressed")
    if raw[:4] != MAGIC:
        raise WireError("bad magic: not a mieruka batch")
    if len(raw) < 9:
        raise WireError("truncated header")
    version, head_len = struct.unpack_from("<BI", raw, 4)
    if version not in READABLE_VERSIONS:
        raise WireError(f"unsupported batch version {version} (this core reads {READABLE_VERSIONS})")
    pos = 9 + head_len
    try:
        header = json.loads(raw[9:pos])
        start = datetime.fromisoformat(header["interval_start"])
        end = datetime.fromisoformat(header["interval_end"])
        batch_id = str(uuid.UUID(header["batch_id"]))
        rows = header["rows"]
        sent = header["counters"]
        counters = {k: int(sent[k] if version > 1 or k in sent else 0) for k in COUNTERS}  # v1 lacks decode_errors
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"bad header: {exc!r}") from None
    if end < start:
        raise WireError("interval_end before interval_start")
    tables = {}
    for name in TABLES:
        if pos + 8 > len(raw):
            raise WireError(f"truncated before table {name}")
        (length,) = struct.unpack_from("<Q", raw, pos)
        pos += 8
        if pos + length > len(raw):
            raise WireError(f"table {name} truncated")
        try:
            table = ipc.open_stream(raw[pos : pos + length]).read_all()
        except pa.ArrowException as exc:
            raise WireError(f"table {name} is not Arrow IPC: {exc}") from None
        pos += length
        if table.num_rows != rows.get(name):
            raise WireError(f"table {name} has {table.num_rows} rows, header says {rows.get(name)}")
        tables[name] = table
    if pos != len(raw):
        raise WireError("trailing bytes after last table")
    sensor = str(header.get("sensor", ""))
    try:
        tables = _tables_from_wire(tables, start, sensor) if version > 1 else _upgrade_v1(tables)
    except (pa.ArrowException, KeyError) as exc:
        raise WireError(f"table schema mismatch: {exc}") from None
    return Batch(start, end, tables, counters, batch_id, sensor)


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
