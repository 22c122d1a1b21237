"""Hunting in the raw flows and events: filters, sort, keyset pages, the count and a timeline of
exactly the filtered result, and the rows to download.

Rows are read from the raw tables, so every query names the tenant and a time window on
the tables' ordering key: ``interval_start`` (the batch's interval, in ORDER BY since migration 014)
within a margin of the window, plus the exact ``ts`` condition. Pages are keyset pages on
(sort column, ts, uid, sensor_id): a deep page costs what the first one does, no OFFSET. A page sorted
by another column than time is read within a bound on that column (and ts) that keeps a prefix of the
order holding the page, so its sort reads the rows that reach the page, not the window's.
The count is the timeline's buckets summed. The timeline counts the window's whole minutes from a rollup
of records per minute and batch (migration 025) when it holds every filter's column (sensor, protocol,
status; for events action and port too), with the raw window rule on the batch's ``interval_start``; with
buckets of an hour or more, a filter by one address (source, destination, device) or a flow's port alone
counts the window's whole hours from a rollup of records per value and hour (migration 026). The partial
minutes or hours at the window's edges, the hours of ``interval_start`` that straddle the window's margins,
batches whose raw rows may have expired, and any other filter (attrs, uids, an address with another filter)
are read from raw.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta

from core.analytics.window import Window, utc
from core.detect.danger import danger
from core.store.clickhouse import ClickHouseStore

MAX_PAGE = 500
EXPORT_CAP = 100_000
# a record's ts lies in its batch's interval; batches are at most a few minutes: one ordering bucket
MARGIN = timedelta(minutes=5)
TS = "DateTime64(6, 'UTC')"
# the columns shown, with their ClickHouse types (for the cursor's typed parameters)
FLOW_COLUMNS = {
    "ts": TS, "ts_end": TS, "sensor_id": "UInt32", "uid": "String", "orig_h": "String", "orig_p": "UInt16",
    "resp_h": "String", "resp_p": "UInt16", "proto": "String", "service": "String", "conn_state": "String",
    "duration": "Float64", "orig_bytes": "UInt64", "resp_bytes": "UInt64", "orig_pkts": "UInt64",
    "resp_pkts": "UInt64", "orig_l2_addr": "String", "resp_l2_addr": "String",
}
EVENT_COLUMNS = {
    "ts": TS, "ts_end": TS, "sensor_id": "UInt32", "uid": "String", "orig_h": "String", "resp_h": "String",
    "resp_p": "UInt16", "protocol": "String", "action": "String", "status": "String", "count": "UInt32",
}
# after the sort column, a total order: records of one flow may share ts (a flow's closing record
# has its last packet's ts), so the row's own hash ends the key
TIE = ("ts", "uid", "sensor_id", "row_hash")
ROW_HASH = "UInt64"
BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 240
# a batch whose raw rows' retention ends within this of now is counted from raw, not from the rollup (which
# keeps its rows a week longer): covers the TTL merge's now against ours and the clocks' difference
DOUBT = timedelta(days=1)
# a first page by another column is bounded by its first buckets holding this many times its rows: enough
# that the bound comes close to the page's own last row (on 100 M flows, 1 024: 3 buckets of a day, not 1)
SAMPLE = 1024
# a first page by another column is first read past a guess that, were the window like its first buckets, holds
# this many times its rows
GUESS = 2


@dataclass(frozen=True)
class Kind:
    table: str
    columns: dict[str, str]
    protocol: str  # SQL matching {protocol:String}
    status: str
    port: str
    row_hash: str  # SQL: a hash of the record's other fields
    extra: tuple[str, ...] = ()  # selected but not sortable
    rollup: str = ""  # its records per minute and batch (migration 025)
    rolled: frozenset[str] = frozenset()  # the filters (Filters' fields) whose columns the rollup holds
    values: str = ""  # its records per value (address, port) and hour (migration 026)
    valued: tuple[tuple[str, str], ...] = ()  # (a filter alone, its condition there)


# a filter by one address, in migration 026's rollup: side 1 the originator's, 2 the responder's, 3 both
ADDRESSES = (("device", "value = {device:String} AND side IN (1, 2, 3)"),
             ("source", "value = {source:String} AND side IN (1, 3)"),
             ("destination", "value = {destination:String} AND side IN (2, 3)"))
FLOWS = Kind("flows", FLOW_COLUMNS, "(proto = {protocol:String} OR has(splitByChar(',', service), {protocol:String}))",
             "conn_state = {status:String}", "(orig_p = {port:UInt16} OR resp_p = {port:UInt16})",
             "cityHash64(final, ts_end, orig_p, resp_p, orig_bytes, resp_bytes, orig_pkts, resp_pkts, conn_state, history)",
             ("community_id", "vlan", "ethertype", "history", "orig_ip_bytes", "resp_ip_bytes", "final"),
             "explore_flows_1m", frozenset({"sensor", "protocol", "status"}), "explore_flow_values_1h",
             (*ADDRESSES, ("port", "value = toString({port:UInt16}) AND side = 4")))
EVENTS = Kind("events", EVENT_COLUMNS, "protocol = {protocol:String}", "status = {status:String}",
              "resp_p = {port:UInt16}",
              "cityHash64(ts_end, resp_p, protocol, action, status, count, mapKeys(attrs), mapValues(attrs))",
              ("attrs",), "explore_events_1m", frozenset({"sensor", "protocol", "action", "status", "port"}),
              "explore_event_values_1h", ADDRESSES)
KINDS = {"flows": FLOWS, "events": EVENTS}


@dataclass(frozen=True)
class Filters:
    """What the analyst asked for; None or empty: any."""

    window: Window
    sensor: int | None = None
    protocol: str | None = None
    action: str | None = None  # events only
    status: str | None = None
    source: str | None = None  # IP or MAC of the originator
    destination: str | None = None  # IP or MAC of the responder
    device: str | None = None  # IP or MAC, either side
    port: int | None = None
    attrs: tuple[tuple[str, str], ...] = ()  # events only: attrs[key] = value
    uids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sort:
    column: str = "ts"
    descending: bool = True


@dataclass
class Page:
    rows: list[dict]
    next_cursor: str | None


@dataclass
class Found:
    """A search's answer: the result's count and timeline (``step`` seconds a bucket), and one page."""

    count: int
    step: int
    buckets: list[dict]
    page: Page


MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
TEXT_FILTERS = ("protocol", "action", "status", "source", "destination", "device")
MAX_TEXT = 200


def _address(value: str) -> str:
    """An IP as typed, a MAC in the stored spelling (lower case, colons)."""
    mac = value.strip().lower().replace("-", ":")
    return mac if MAC.match(mac) else value.strip()


def parse_filters(window: Window, query: Mapping[str, object]) -> Filters:
    """Filters from a query's values (strings, or lists of them for ``attr`` and ``uid``); ValueError
    names the bad one."""
    text = {}
    for name in TEXT_FILTERS:
        value = str(query.get(name) or "").strip()
        if len(value) > MAX_TEXT:
            raise ValueError(f"{name}: at most {MAX_TEXT} characters")
        text[name] = value or None
    for name in ("source", "destination", "device"):
        text[name] = text[name] and _address(text[name])
    numbers = {}
    for name, top in (("sensor", 2**32 - 1), ("port", 65535)):
        value = query.get(name)
        value = "" if value is None else str(value).strip()
        if value and not (value.isdigit() and int(value) <= top):
            raise ValueError(f"{name}: a whole number from 0 to {top}")
        numbers[name] = int(value) if value else None
    attrs = []
    for item in _many(query.get("attr")):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or len(item) > MAX_TEXT:
            raise ValueError("attr: key=value")
        attrs.append((key.strip(), value))
    uids = tuple(u for u in _many(query.get("uid")) if u)
    if any(len(u) > 64 for u in uids) or len(uids) > 500:
        raise ValueError("uid: at most 500 ids of at most 64 characters")
    return Filters(window, attrs=tuple(attrs), uids=uids, **text, **numbers)


def _many(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v).strip() for v in value] if isinstance(value, list | tuple) else [str(value).strip()]


def sort_of(kind: Kind, text: str) -> Sort:
    """``column`` or ``-column`` (descending); ValueError names an unknown column."""
    column = text.removeprefix("-")
    if column not in kind.columns:
        raise ValueError(f"sort: unknown column {column!r}; one of {', '.join(kind.columns)}")
    return Sort(column, text.startswith("-"))


def _where(kind: Kind, f: Filters, tenant_id: int) -> tuple[str, dict]:
    batches, params = _batches(f, tenant_id)
    filters, values = _filtered(kind, f)
    sql = [batches, "sign = 1", f"ts >= {{start:{TS}}}", f"ts < {{end:{TS}}}", *filters]
    return " AND ".join(sql), params | values | {"start": f.window.start, "end": f.window.end}


def _batches(f: Filters, tenant_id: int) -> tuple[str, dict]:
    """The tenant's records of batches whose interval starts within MARGIN of the window."""
    return (f"tenant_id = {{tenant:UInt32}} AND interval_start >= {{lo:{TS}}} AND interval_start < {{hi:{TS}}}",
            {"tenant": tenant_id, "lo": f.window.start - MARGIN, "hi": f.window.end + MARGIN})


def _filtered(kind: Kind, f: Filters) -> tuple[list[str], dict]:
    """The filters' conditions and their parameters."""
    sql: list[str] = []
    params: dict = {}

    def add(condition: str, **values) -> None:
        sql.append(condition)
        params.update(values)

    if f.sensor is not None:
        add("sensor_id = {sensor:UInt32}", sensor=f.sensor)
    if f.protocol:
        add(kind.protocol, protocol=f.protocol)
    if f.action:
        add("action = {action:String}", action=f.action)
    if f.status:
        add(kind.status, status=f.status)
    if f.port is not None:
        add(kind.port, port=f.port)
    sides = {"source": ("orig_h", "orig_l2_addr"), "destination": ("resp_h", "resp_l2_addr")}
    if kind is EVENTS:  # events carry addresses only
        sides = {"source": ("orig_h",), "destination": ("resp_h",)}
    for name, value in (("source", f.source), ("destination", f.destination)):
        if value:
            add("(" + " OR ".join(f"{c} = {{{name}:String}}" for c in sides[name]) + ")", **{name: value})
    if f.device:
        columns = sides["source"] + sides["destination"]
        add("(" + " OR ".join(f"{c} = {{device:String}}" for c in columns) + ")", device=f.device)
    for i, (key, value) in enumerate(f.attrs):
        add(f"attrs[{{ak{i}:String}}] = {{av{i}:String}}", **{f"ak{i}": key, f"av{i}": value})
    if f.uids:
        add("uid IN {uids:Array(String)}", uids=list(f.uids))
    return sql, params


def encode_cursor(sort: Sort, row: dict) -> str:
    values = [row[c].isoformat() if isinstance(row[c], datetime) else row[c] for c in _key(sort)]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _key(sort: Sort) -> tuple[str, ...]:
    return (sort.column, *(c for c in TIE if c != sort.column))


def _cursor_params(kind: Kind, sort: Sort, cursor: str) -> dict:
    """The cursor's values by parameter name; ValueError for one this sort did not make."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor: not a cursor this query made") from None
    key = _key(sort)
    if not isinstance(values, list) or len(values) != len(key):
        raise ValueError("cursor: not a cursor of this sort")
    params = {}
    for i, (column, value) in enumerate(zip(key, values, strict=True)):
        kind_type = _type(kind, column)
        if kind_type == TS:
            if not isinstance(value, str):
                raise ValueError("cursor: a bad time")
            value = utc(datetime.fromisoformat(value))
        elif kind_type == "String" and not isinstance(value, str):
            raise ValueError("cursor: a bad value")
        elif kind_type != "String" and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ValueError("cursor: a bad number")
        params[f"k{i}"] = value
    return params


def _order(sort: Sort) -> str:
    direction = " DESC" if sort.descending else ""
    return ", ".join(c + direction for c in _key(sort))


def page(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters, sort: Sort, limit: int,
         cursor: str | None = None, timeline: tuple[int, list[dict]] | None = None) -> Page:
    """Up to ``limit`` rows after ``cursor`` (None: the first page), and the cursor of the next page.
    ``timeline``: the result's (``timeline``), when the caller has it — a first page in time order then
    reads only the buckets that hold it, a first page by another column is bounded by the rows of those
    buckets (or by the result's own row past a tighter guess from them, when the page's rows lie past it)."""
    first, share = None, 1.0
    if cursor is None and timeline:
        wanted = (limit + 1) * (1 if sort.column == "ts" else SAMPLE)
        first = _first_buckets(f.window, sort.descending, *timeline, wanted)
        # the first buckets' share of the result's records
        share = sum(b["n"] for b in timeline[1] if first.start <= b["t"] < first.end) / max(count(timeline[1]), 1)
    if first and sort.column == "ts":
        f = replace(f, window=first)
    where, params = _where(kind, f, tenant_id)
    if cursor:
        params |= _cursor_params(kind, sort, cursor)
        key = _key(sort)
        mine = ", ".join(kind.row_hash if c == "row_hash" else c for c in key)
        theirs = ", ".join(f"{{k{i}:{_type(kind, c)}}}" for i, c in enumerate(key))
        # the sort column's own bound first: the granules its minmax index puts past the cursor are skipped
        where += (f" AND {sort.column} {'<=' if sort.descending else '>='} {{k0:{_type(kind, sort.column)}}}"
                  f" AND ({mine}) {'<' if sort.descending else '>'} ({theirs})")
    columns = ", ".join((*kind.columns, *kind.extra, f"{kind.row_hash} AS row_hash"))
    read = f"SELECT {columns} FROM {kind.table} WHERE {{}} ORDER BY {_order(sort)} LIMIT {{{{limit:UInt32}}}}"
    if sort.column != "ts" and first:
        where += _bound_by(ch, kind, sort, (where, params), _where(kind, replace(f, window=first), tenant_id),
                           limit + 1, share)
    elif sort.column != "ts":
        where += _bound(ch, kind, sort, where, params, limit + 1)
    rows = ch.query(read.format(where), params | {"limit": limit + 1})
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_shaped(kind, r) for r in rows], encode_cursor(sort, rows[-1]) if more else None)


def _bound(ch: ClickHouseStore, kind: Kind, sort: Sort, where: str, params: dict, wanted: int) -> str:
    """A condition that keeps the result's first ``wanted`` rows and few others: the sort column at or before
    its ``wanted``-th value ``v`` (the column read alone: ClickHouse's top-N read skips the granules its
    minmax index, migration 024, or its running top rule out), and when ``v`` is tied within those rows,
    of the rows at ``v`` only those up to the time of the last that fits. The page's own sort then
    reads only the rows that reach it. Adds its values to ``params``; empty when the result is shorter.
    (Every value compares: ingest refuses a NaN duration.)"""
    column, direction = sort.column, " DESC" if sort.descending else ""
    values = [r["v"] for r in ch.query(f"SELECT {column} AS v FROM {kind.table} WHERE {where}"
                                       f" ORDER BY {column}{direction} LIMIT {{wanted:UInt32}}",
                                       params | {"wanted": wanted})]
    if len(values) < wanted:
        return ""
    params["bound"] = values[-1]
    if (tied := values.count(values[-1])) > 1:
        times = ch.query(f"SELECT ts FROM {kind.table} WHERE {where} AND {column} = {{bound:{_type(kind, column)}}}"
                         f" ORDER BY ts{direction} LIMIT {{tied:UInt32}}", params | {"tied": tied})
        if len(times) == tied:  # else rows went since: the column's bound alone
            params["bound_ts"] = times[-1]["ts"]
            return _up_to(kind, sort, with_time=True)
    return _up_to(kind, sort, with_time=False)


def _bound_by(ch: ClickHouseStore, kind: Kind, sort: Sort, result: tuple[str, dict], part: tuple[str, dict],
              wanted: int, share: float) -> str:
    """A condition that keeps the ``result``'s (its WHERE and parameters) first ``wanted`` rows, from a ``part`` of
    it (here its first buckets, ``share`` of the result's rows): the (sort column, ts) of the part's ``wanted``-th
    row comes no later in the order than the whole result's, so the rows up to it hold the page. Tighter when a
    guess holds: the result's own ``wanted``-th row past the part's row that the result, were it like the part,
    holds GUESS times ``wanted`` rows up to (where values are spread evenly, every granule holds some past the
    part's bound: the guess rules most out), read as (column, ts) alone — the page's other columns are then read
    from the few granules of its rows only. Adds its values to the result's parameters; empty when the part is
    too short."""
    column, direction = sort.column, " DESC" if sort.descending else ""
    where, params = result
    top = (f"SELECT {column} AS v, ts FROM {kind.table} WHERE {{}} ORDER BY {column}{direction}, ts{direction}"
           " LIMIT {{wanted:UInt32}}")
    rows = ch.query(top.format(part[0]), part[1] | {"wanted": wanted})
    if len(rows) < wanted:
        return ""
    nth = math.ceil(GUESS * wanted * share)
    if nth < wanted and rows[nth - 1]["v"] != rows[-1]["v"]:  # tighter than the part's (ts) bound
        past = f" AND {column} {'>' if sort.descending else '<'}= {{guess:{_type(kind, column)}}}"
        held = ch.query(top.format(where + past), params | {"guess": rows[nth - 1]["v"], "wanted": wanted})
        rows = held if len(held) == wanted else rows  # else fewer lie past it: the part's row
    params |= {"bound": rows[-1]["v"], "bound_ts": rows[-1]["ts"]}
    return _up_to(kind, sort, with_time=True)


def _up_to(kind: Kind, sort: Sort, with_time: bool) -> str:
    """The rows up to ``{bound}`` in the sort column (and, ``with_time``, of those at it, up to ``{bound_ts}``),
    written so the minmax indexes rule out a granule: none of its values reach the bound, nor its times."""
    column, at, past = sort.column, f"{{bound:{_type(kind, sort.column)}}}", ">" if sort.descending else "<"
    condition = f" AND {column} {past}= {at}"
    return condition + (f" AND ({column} {past} {at} OR ts {past}= {{bound_ts:{TS}}})" if with_time else "")


def _first_buckets(window: Window, descending: bool, step: int, buckets: list[dict], wanted: int) -> Window:
    """The part of ``window`` covered by its timeline's newest (``descending``) or oldest buckets that
    hold ``wanted`` records: the first ``wanted`` in time order are all there."""
    held = 0
    for bucket in reversed(buckets) if descending else buckets:
        held += bucket["n"]
        if held >= wanted:
            if descending:
                return Window(max(bucket["t"], window.start), window.end)
            return Window(window.start, min(bucket["t"] + timedelta(seconds=step), window.end))
    return window


def _type(kind: Kind, column: str) -> str:
    return ROW_HASH if column == "row_hash" else kind.columns[column]


def _shaped(kind: Kind, row: dict) -> dict:
    row = {k: v for k, v in row.items() if k != "row_hash"} | {"ts": utc(row["ts"]), "ts_end": utc(row["ts_end"])}
    if kind is EVENTS:
        row["attrs"] = dict(row["attrs"])
        row["danger"] = danger(row["protocol"], row["action"], row["attrs"])
    return row


def count(buckets: list[dict]) -> int:
    """Records of the filtered result, from its ``timeline``: every record lies in one bucket."""
    return sum(b["n"] for b in buckets)


def bucket_seconds(window: Window) -> int:
    """The smallest bucket that keeps the timeline to at most MAX_BUCKETS bars."""
    span = (window.end - window.start).total_seconds()
    return next((b for b in BUCKETS if span / b <= MAX_BUCKETS), BUCKETS[-1])


def timeline(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters) -> tuple[int, list[dict]]:
    """Records per bucket of the filtered result: (bucket seconds, [{t, n}]). The window's whole minutes
    come from the rollup when it holds every filter's column (``_from_rollup``); with buckets of an hour or
    more and one filter, an address or a flow's port, its whole hours from the rollup per value and hour
    (``_from_values``); the rest from raw."""
    step = bucket_seconds(f.window)
    where, params = _where(kind, f, tenant_id)
    valued = _valued(kind, f) if step % 3600 == 0 else None
    unit = timedelta(hours=1) if valued else timedelta(minutes=1)
    first, last = _ceil(f.window.start, unit), _floor(f.window.end, unit)
    if not (valued or _rolled(kind, f)) or first >= last:
        counts = _raw_counts(ch, kind, [where], params, step)
    else:
        if valued:  # batches from ``beyond`` on share their hour of interval_start with some past the window
            beyond = _floor(params["hi"], unit)
            counts, cutoff = _from_values(ch, kind, tenant_id, f, valued, step, (first, last), beyond)
        else:
            (counts, cutoff), beyond = _from_rollup(ch, kind, tenant_id, f, step, first, last), params["hi"]
        parts = [f"{where} AND ts < {{first:{TS}}}"] if f.window.start < first else []
        parts += [f"{where} AND ts >= {{last:{TS}}}"] if last < f.window.end else []
        inner = f"{where} AND ts >= {{first:{TS}}} AND ts < {{last:{TS}}}"
        if cutoff > params["lo"]:  # batches the raw table may have dropped (or sharing an hour): as it holds them
            parts.append(f"{inner} AND interval_start < {{cutoff:{TS}}}")
        if beyond < params["hi"]:
            parts.append(f"{inner} AND interval_start >= {{beyond:{TS}}} AND interval_start >= {{cutoff:{TS}}}")
        params |= {"first": first, "last": last, "cutoff": cutoff, "beyond": beyond}
        counts.update(_raw_counts(ch, kind, parts, params, step))
    return step, [{"t": utc(t), "n": n} for t, n in sorted(counts.items()) if n]


def _asked(f: Filters) -> set[str]:
    return {each.name for each in fields(f) if each.name != "window" and getattr(f, each.name) not in (None, "", ())}


def _rolled(kind: Kind, f: Filters) -> bool:
    """Whether the kind's rollup holds the columns of every filter ``f`` sets."""
    return bool(kind.rollup) and _asked(f) <= kind.rolled


def _valued(kind: Kind, f: Filters) -> str | None:
    """The condition in the kind's rollup per value and hour of the one filter ``f`` sets, if it holds it."""
    asked = _asked(f)
    return dict(kind.valued).get(asked.pop()) if len(asked) == 1 else None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _floor(t: datetime, unit: timedelta) -> datetime:
    return t - (t - EPOCH) % unit


def _ceil(t: datetime, unit: timedelta) -> datetime:
    whole = _floor(t, unit)
    return whole if whole == t else whole + unit


def _raw_counts(ch: ClickHouseStore, kind: Kind, parts: list[str], params: dict, step: int) -> Counter:
    """Records per bucket of the raw records under any of the WHEREs ``parts`` (disjoint)."""
    if not parts:
        return Counter()
    each = " UNION ALL ".join(f"SELECT toStartOfInterval(ts, INTERVAL {{step:UInt32}} SECOND) AS t, count() AS n"
                              f" FROM {kind.table} WHERE {where} GROUP BY t" for where in parts)
    rows = ch.query(f"SELECT t, sum(n) AS n FROM ({each}) GROUP BY t", params | {"step": step})
    return Counter({r["t"]: r["n"] for r in rows})


def _from_rollup(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters, step: int, first: datetime,
                 last: datetime) -> tuple[Counter, datetime]:
    """Records per bucket of the minutes [first, last) from the rollup (its rows' signed counts: a batch
    taken out counts 0), of the batches that started at or after the returned cutoff: none of their raw
    rows can have expired. Before it lie the batches the raw table keeps for the least retention in the
    rows read (DOUBT sooner), which a TTL merge may have dropped there; the caller reads those raw.
    One query: the least retention is its scalar subquery."""
    batches, params = _batches(f, tenant_id)
    filters, values = _filtered(kind, f)
    where = " AND ".join([batches, "minute >= {first:DateTime('UTC')} AND minute < {last:DateTime('UTC')}", *filters])
    least = f"(SELECT minOrNull(retention_days) FROM {kind.rollup} WHERE {where} AND retention_days > 0)"
    (row,) = ch.query(
        f"WITH greatest({{lo:{TS}}}, ifNull({{doubted:{TS}}} - toIntervalDay({least}), {{lo:{TS}}})) AS cutoff"
        " SELECT cutoff, groupArray((t, n)) AS counts FROM ("
        f" SELECT toStartOfInterval(minute, INTERVAL {{step:UInt32}} SECOND) AS t, sum(records) AS n FROM {kind.rollup}"
        f" WHERE {where} AND interval_start >= cutoff GROUP BY t)",
        params | values | {"first": first, "last": last, "step": step, "doubted": datetime.now(UTC) + DOUBT})
    return Counter(dict(row["counts"])), utc(row["cutoff"])


def _from_values(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters, valued: str, step: int,
                 hours: tuple[datetime, datetime], beyond: datetime) -> tuple[Counter, datetime]:
    """Records per bucket of the ``hours`` [first, last) from the rollup per value and hour (its rows' signed
    counts) under the one filter's condition ``valued``, of the batches whose hour of ``interval_start`` lies
    wholly at or after the returned cutoff and before ``beyond``: within the window's margins, and none of their
    raw rows can have expired by the least retention of the rows read (DOUBT sooner). The caller reads the
    other batches raw."""
    _, params = _batches(f, tenant_id)
    where = " AND ".join(["tenant_id = {tenant:UInt32}", valued, "hour >= {first:DateTime('UTC')}",
                          "hour < {last:DateTime('UTC')}", "interval_hour < {beyond:DateTime('UTC')}"])
    least = (f"(SELECT minOrNull(least_days) FROM {kind.values} WHERE {where}"
             f" AND interval_hour >= toStartOfHour({{lo:{TS}}}) AND least_days < 65535)")  # (65535: kept for good)
    (row,) = ch.query(
        f"WITH greatest({{lo:{TS}}}, ifNull({{doubted:{TS}}} - toIntervalDay({least}), {{lo:{TS}}})) AS cutoff,"
        " toStartOfHour(cutoff) AS floored, if(floored = cutoff, floored, floored + toIntervalHour(1)) AS since"
        " SELECT since, groupArray((t, n)) AS counts FROM ("
        f" SELECT toStartOfInterval(hour, INTERVAL {{step:UInt32}} SECOND) AS t, sum(records) AS n FROM {kind.values}"
        f" WHERE {where} AND interval_hour >= since GROUP BY t)",
        params | _filtered(kind, f)[1] | {"first": hours[0], "last": hours[1], "beyond": beyond, "step": step,
                                          "doubted": datetime.now(UTC) + DOUBT})
    return Counter(dict(row["counts"])), utc(row["since"])


def search(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters, sort: Sort, limit: int,
           cursor: str | None = None) -> Found:
    """The filtered result's timeline, its count (the buckets summed) and the page after ``cursor``
    (a first page in time order read from the buckets that hold it only)."""
    step, buckets = timeline(ch, kind, tenant_id, f)
    found = page(ch, kind, tenant_id, f, sort, limit, cursor, (step, buckets))
    return Found(count(buckets), step, buckets, found)


def export_rows(ch: ClickHouseStore, kind: Kind, tenant_id: int, f: Filters, sort: Sort,
                cap: int = EXPORT_CAP, chunk: int = 5000) -> Iterator[dict]:
    """Every row of the result in the page order, up to ``cap``, fetched a keyset page at a time."""
    cursor, sent = None, 0
    while sent < cap:
        found = page(ch, kind, tenant_id, f, sort, min(chunk, cap - sent), cursor)
        yield from found.rows
        sent += len(found.rows)
        if found.next_cursor is None:
            return
        cursor = found.next_cursor


def export_columns(kind: Kind) -> list[str]:
    return [*kind.columns, *kind.extra, *(("danger",) if kind is EVENTS else ())]
