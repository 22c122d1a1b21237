"""The values a batch's tables may hold (sensor/wire/__init__.py checks them before the core stores a row).

Every rule is one vectorised pass over a column, or over its distinct values where Python has to
parse them (addresses): a realistic batch has few distinct addresses however many rows it has.
Times are microseconds since the epoch; the window arguments are what the interval allows: one
number for one batch, or an array of one per row when several batches are checked at once.
"""

from __future__ import annotations

import functools
import ipaddress

import numpy as np
import pyarrow as pa

from sensor.wire.compute import pc

PROTOS = ["tcp", "udp", "icmp", "icmp6", "l2"] + [str(n) for n in range(256)]
# Zeek's conn_state values; "" for economy-mode summaries (sensor/ship/budget.py)
CONN_STATES = ["", "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"]
MAC = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
MAX_VLAN = 4095
MAX_CONFIDENCE = 100
MAX_COUNTER = 2**63 - 1  # UInt64 in the store, summed by the rollups: keep sums from wrapping
MAX_TEXT = 8192  # the longest string any column may hold
ROW_SLACK_US = 60_000_000  # how far an event or observation may lie outside its interval
FLOW_COUNTERS = ("orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes")


Bound = int | np.ndarray  # a time limit for every row, or one per row


class BadValue(ValueError):
    """A value outside what its column may hold."""


class BadTime(BadValue):
    """A row time outside its interval or the window the core takes."""


@functools.lru_cache(maxsize=1 << 14)
def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _distinct(col: pa.ChunkedArray) -> list:
    return [v for v in pc.unique(col).to_pylist() if v is not None]


def _addresses(where: str, col: pa.ChunkedArray, empty_ok: bool) -> None:
    for v in _distinct(col):
        if not (_is_ip(v) or (empty_ok and v == "")):
            raise BadValue(f"{where}: {v[:80]!r} is not an IP address")


def _macs(where: str, col: pa.ChunkedArray) -> None:
    distinct = pa.array(_distinct(col), pa.string())
    ok = pc.or_(pc.equal(distinct, ""), pc.match_substring_regex(distinct, MAC))
    if not pc.all(ok, min_count=0).as_py():
        bad = distinct.filter(pc.invert(ok))[0].as_py()
        raise BadValue(f"{where}: {bad[:80]!r} is not a MAC address")


def _member(where: str, col: pa.ChunkedArray, allowed: list[str]) -> None:
    inside = pc.is_in(col, value_set=pa.array(allowed))
    if not pc.all(inside, min_count=0).as_py():
        raise BadValue(f"{where}: {col.filter(pc.invert(inside))[0].as_py()[:80]!r} is not one of the known values")


def _at_most(where: str, col: pa.ChunkedArray, top: int | float) -> None:
    if len(col) and (high := pc.max(col).as_py()) is not None and high > top:
        raise BadValue(f"{where}: {high} is more than {top}")


def _micros(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col.cast(pa.int64())


def _between(where: str, col: pa.ChunkedArray, low: Bound | None, high: Bound) -> None:
    if not len(col):
        return
    if isinstance(high, np.ndarray):  # several batches' rows, each with its own bounds
        us = _micros(col)
        outside = pc.greater(us, pa.array(high))
        if low is not None:
            outside = pc.or_(outside, pc.less(us, pa.array(low)))
        if pc.any(outside).as_py():
            raise BadTime(f"{where}: a row time lies outside its interval or the window this core takes")
        return
    extremes = pc.min_max(_micros(col)).as_py()
    if extremes["min"] is None:
        return
    if (low is not None and extremes["min"] < low) or extremes["max"] > high:
        raise BadTime(f"{where}: a row time lies outside its interval or the window this core takes")


def _ordered(where: str, first: pa.ChunkedArray, last: pa.ChunkedArray) -> None:
    if pc.any(pc.greater(_micros(first), _micros(last))).as_py():
        raise BadTime(f"{where}: ts after ts_end")


def _texts(name: str, table: pa.Table) -> None:
    for f, col in zip(table.schema, table.columns):
        if pa.types.is_string(f.type):
            _at_most(f"{name}.{f.name} length", pc.utf8_length(col), MAX_TEXT)


def flows(t: pa.Table, end: Bound, earliest: Bound | None) -> None:
    """A flow may have begun, and even ended, before its interval (one timed out after a gap in the
    capture reports its last packet), but not before ``earliest``, nor after the interval."""
    _between("flows.ts", t["ts"], earliest, end + ROW_SLACK_US)
    _between("flows.ts_end", t["ts_end"], earliest, end + ROW_SLACK_US)
    _ordered("flows", t["ts"], t["ts_end"])
    _member("flows.proto", t["proto"], PROTOS)
    _member("flows.conn_state", t["conn_state"], CONN_STATES)
    _at_most("flows.vlan", t["vlan"], MAX_VLAN)
    for name in FLOW_COUNTERS:
        _at_most(f"flows.{name}", t[name], MAX_COUNTER)
    l2 = pc.equal(t["proto"], "l2")
    for side in ("orig_h", "resp_h"):
        _addresses(f"flows.{side}", t[side].filter(pc.invert(l2)), empty_ok=False)
        if not pc.all(pc.equal(t[side].filter(l2), ""), min_count=0).as_py():
            raise BadValue(f"flows.{side}: an L2 flow names an IP address")
    for side in ("orig_l2_addr", "resp_l2_addr"):
        _macs(f"flows.{side}", t[side])
    duration = t["duration"]
    if pc.any(pc.invert(pc.is_finite(duration))).as_py() or pc.any(pc.less(duration, 0)).as_py():
        raise BadValue("flows.duration: not a finite, non-negative number of seconds")
    _texts("flows", t)


def events(t: pa.Table, start: Bound, end: Bound) -> None:
    _between("events.ts", t["ts"], start - ROW_SLACK_US, end + ROW_SLACK_US)
    _between("events.ts_end", t["ts_end"], start - ROW_SLACK_US, end + ROW_SLACK_US)
    _ordered("events", t["ts"], t["ts_end"])
    if pc.any(pc.equal(t["count"], 0)).as_py():
        raise BadValue("events.count: 0")
    for side in ("orig_h", "resp_h"):
        _addresses(f"events.{side}", t[side], empty_ok=True)
    _texts("events", t)
    attrs = t["attrs"].combine_chunks()
    if attrs.items.null_count:
        raise BadValue("events.attrs: a null value")
    _at_most("events.attrs length", pc.utf8_length(attrs.items), MAX_TEXT)
    _at_most("events.attrs key length", pc.utf8_length(attrs.keys), MAX_TEXT)


def observations(t: pa.Table, start: Bound, end: Bound) -> None:
    _between("observations.ts", t["ts"], start - ROW_SLACK_US, end + ROW_SLACK_US)
    _macs("observations.mac", t["mac"])
    _addresses("observations.ip", t["ip"], empty_ok=True)
    if pc.any(pc.and_(pc.equal(t["mac"], ""), pc.equal(t["ip"], ""))).as_py():
        raise BadValue("observations: a row names no device (neither mac nor ip)")
    _at_most("observations.confidence", t["confidence"], MAX_CONFIDENCE)
    _texts("observations", t)


def no_nulls(tables: dict[str, pa.Table], skip: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Every column is stored non-Nullable: a null would be stored as a made-up "" or 0.
    ``skip`` names (table, column) pairs not filled in yet."""
    for name, table in tables.items():
        for f, col in zip(table.schema, table.columns):
            if col.null_count and (name, f.name) not in skip:
                raise BadValue(f"{name}.{f.name}: {col.null_count} null values")
