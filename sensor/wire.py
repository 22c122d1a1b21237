"""The batch wire format shared by sensor and core (the only module core imports from sensor).

A batch is one sensor's records for one interval. On the wire it is a zstd frame holding:

    b"MRKB" | u8 version | u32 header length | header (UTF-8 JSON)
    then, for each table in TABLES order: u64 length | Arrow IPC stream

The header names the batch (``batch_id``, stable across resends so the core can deduplicate), the
interval, the row count of each table and the capture counters for the interval.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.ipc as ipc
import zstandard

MAGIC = b"MRKB"
VERSION = 1
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
        ("ts", TS),
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

COUNTERS = ("packets", "bytes", "parse_errors", "kernel_drops", "non_ip_packets")


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


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()


def encode(batch: Batch, level: int = 9) -> bytes:
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
    for name, schema in TABLES.items():
        table = batch.tables[name]
        if not table.schema.equals(schema):
            table = table.cast(schema)
        body = _ipc_bytes(table)
        parts += [struct.pack("<Q", len(body)), body]
    return zstandard.ZstdCompressor(level=level).compress(b"".join(parts))


def _bounded_decompress(data: bytes, limit: int) -> bytes:
    """Decompress at most `limit` bytes, whatever size the frame claims."""
    out = bytearray()
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
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
    if version != VERSION:
        raise WireError(f"unsupported batch version {version} (this core speaks {VERSION})")
    pos = 9 + head_len
    try:
        header = json.loads(raw[9:pos])
        start = datetime.fromisoformat(header["interval_start"])
        end = datetime.fromisoformat(header["interval_end"])
        batch_id = str(uuid.UUID(header["batch_id"]))
        rows = header["rows"]
        counters = {k: int(header["counters"][k]) for k in COUNTERS}
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"bad header: {exc!r}") from None
    if end < start:
        raise WireError("interval_end before interval_start")
    tables = {}
    for name, schema in TABLES.items():
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
        if not table.schema.equals(schema):
            raise WireError(f"table {name} schema mismatch: got {table.schema.names}")
        if table.num_rows != rows.get(name):
            raise WireError(f"table {name} has {table.num_rows} rows, header says {rows.get(name)}")
        tables[name] = table
    if pos != len(raw):
        raise WireError("trailing bytes after last table")
    return Batch(start, end, tables, counters, batch_id, str(header.get("sensor", "")))
