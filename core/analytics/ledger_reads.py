"""What asset ledgers are built from, read for one or several windows at once.

Each source is one query for all the windows (``spans.each_period``: every row tagged with its window's
index): the facts as they stood at each window's end, the sightings, the traffic per host and side and
the actions per client, and the analysts' notes once. Comparing two periods (core.analytics.changes)
then reads each state table once rather than once per ledger, and the functions a pair used in the
second period only come with the actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.analytics.ledger import Asset, build_ledger
from core.analytics.spans import SEEN_BY_PERIOD, each_period, state_rows, whole_days
from core.analytics.window import EARLIEST, LATEST, clamp
from core.store.clickhouse import ClickHouseStore

HOUR = timedelta(hours=1)
Period = tuple[datetime | None, datetime | None]  # [start, end); None: open
FUNCTION_KEY = ("orig_h", "resp_h", "protocol", "action")
# A function used in the second window only: what is returned of it besides its client.
ADDED = ("resp_h", "protocol", "action", "count", "first_seen", "last_seen")


def window_params(tenant_id: int, start: datetime | None, end: datetime | None) -> dict:
    """Query parameters of a window; an open bound is the earliest or latest time shown."""
    first = clamp(start) if start else EARLIEST
    first_hour = max(first.replace(minute=0, second=0, microsecond=0) - HOUR, EARLIEST)
    last = clamp(end) if end else LATEST
    return {"tenant": tenant_id, "start": first, "end": last, "first_hour": first_hour,
            "open_start": start is None, "open_end": end is None, **whole_days(first, last)}


@dataclass
class Reads:
    """Per window (by index): facts, sightings, traffic per host and side, actions per client; the
    tenant's notes by device; and, when asked for, the functions used in the second window only."""

    windows: list[dict]
    facts: list[list[dict]]
    sightings: list[list[dict]]
    traffic: list[list[dict]]
    actions: list[dict[str, set[str]]]
    annotations: dict[str, dict]
    functions_added: list[dict]


def read(ch: ClickHouseStore, tenant_id: int, periods: list[Period], functions: bool = False) -> Reads:
    """Everything the ledgers of ``periods`` are built from: one query per source. ``functions`` (two
    periods): also the functions (pair, protocol, action) the second one used and the first did not, with
    their uses and first and last sighting in the second (not yet cut to it)."""
    windows = [window_params(tenant_id, *period) for period in periods]
    actions, added = _actions(ch, windows, functions)
    return Reads(windows, _facts(ch, windows), _sightings(ch, windows), _traffic(ch, windows), actions,
                 annotations(ch, tenant_id), added)


def built(reads: Reads, index: int) -> dict[str, Asset]:
    """The ledger of window ``index``."""
    return build_ledger(reads.facts[index], reads.traffic[index], reads.actions[index], reads.annotations,
                        sightings=reads.sightings[index])


def _by_period(rows: list[dict], count: int) -> list[list[dict]]:
    """Rows tagged with ``period`` by window (the tag dropped)."""
    found: list[list[dict]] = [[] for _ in range(count)]
    for row in rows:
        found[row.pop("period")].append(row)
    return found


def _facts(ch: ClickHouseStore, windows: list[dict]) -> list[list[dict]]:
    """Every attribute per device and source as it stood at each window's end: the value seen last by
    then (of two seen as late, the one first seen later)."""
    rows, params = each_period([(
        "(SELECT mac, ip, attribute, source, value, confidence, first_seen AS since,"
        " least(last_seen, {end:DateTime64(6, 'UTC')}) AS until FROM asset_fact_values"
        " WHERE tenant_id = {tenant:UInt32} AND ({open_end:Bool} OR first_seen < {end:DateTime64(6, 'UTC')}))",
        window) for window in windows])
    return _by_period(ch.query(
        f"""
        SELECT period, mac, ip, attribute, source, argMax(value, (until, since)) AS value,
               max(confidence) AS confidence, min(since) AS first_seen, max(until) AS last_seen
        FROM {rows} GROUP BY period, mac, ip, attribute, source
        """,
        params), len(windows))


def _sightings(ch: ClickHouseStore, windows: list[dict]) -> list[list[dict]]:
    """Devices (MAC/IP as observed) seen in each window, with their first and last sighting in it."""
    rows, params = each_period([(state_rows("asset_seen", "mac, ip, first_seen, last_seen", w), w) for w in windows])
    return _by_period(ch.query(
        f"SELECT period, mac, ip, {SEEN_BY_PERIOD} FROM {rows} GROUP BY period, mac, ip", params), len(windows))


def _traffic(ch: ClickHouseStore, windows: list[dict]) -> list[list[dict]]:
    """Per window, host and side: services (with the server port), VLANs, peers, first and last sighting
    in it. Each pair is summed up first, then counted on both of its sides."""
    pairs, params = each_period([(state_rows(
        "pair_seen", "orig_h, resp_h, resp_p, vlan, service, first_seen, last_seen", w), w) for w in windows])
    return _by_period(ch.query(
        f"""
        SELECT period, side_of.1 AS host, side_of.2 AS side, service, resp_p, groupUniqArray(vlan) AS vlans,
               uniqExact(side_of.3) AS peers, {SEEN_BY_PERIOD}
        FROM (SELECT period, orig_h, resp_h, resp_p, vlan, service, min(first_seen) AS first_seen,
                     max(last_seen) AS last_seen
              FROM {pairs} GROUP BY period, orig_h, resp_h, resp_p, vlan, service)
        ARRAY JOIN [(resp_h, 'served', orig_h), (orig_h, 'used', resp_h)] AS side_of
        WHERE host != ''
        GROUP BY period, host, side, service, resp_p
        """,
        params), len(windows))


def _actions(ch: ClickHouseStore, windows: list[dict], functions: bool) -> tuple[list[dict[str, set[str]]], list[dict]]:
    """The actions each client used in each window; with ``functions`` (two windows), also the functions
    (pair, protocol, action) used in the second and not in the first, with their uses and first and last
    sighting there (not yet cut to it)."""
    key = ", ".join(FUNCTION_KEY) if functions else "orig_h, action"
    rows, params = each_period([(state_rows("event_actions", f"{key}, count, first_seen, last_seen", w), w)
                                for w in windows])
    if not functions:
        found: list[dict[str, set[str]]] = [{} for _ in windows]
        for r in ch.query(f"SELECT period, orig_h, groupUniqArray(action) AS used FROM {rows} GROUP BY period, orig_h",
                          params):
            found[r["period"]][r["orig_h"]] = set(r["used"])
        return found, []
    used = ", ".join(f"groupUniqArrayIf(action, bitTest(periods, {i})) AS used_{i}" for i in range(len(windows)))
    found = ch.query(
        f"""
        SELECT orig_h, {used}, groupArrayIf(({', '.join(ADDED)}), periods = 2 AND action != '') AS added
        FROM (SELECT {key}, groupBitOr(bitShiftLeft(toUInt64(1), period)) AS periods, sumIf(count, period = 1) AS count,
                     minIf(first_seen, period = 1) AS first_seen, maxIf(last_seen, period = 1) AS last_seen
              FROM {rows} GROUP BY {key})
        GROUP BY orig_h
        """,
        params,
    )
    by_client = [{r["orig_h"]: set(r[f"used_{i}"]) for r in found} for i in range(len(windows))]
    return by_client, [dict(zip(("orig_h", *ADDED), (r["orig_h"], *use))) for r in found for use in r["added"]]


def annotations(ch: ClickHouseStore, tenant_id: int) -> dict[str, dict]:
    """What analysts said about each device of the tenant, by device key."""
    rows = ch.query(
        "SELECT device, authorized, importance, tags, notes, zone, purdue_level, updated_by, updated_at"
        " FROM asset_annotations FINAL WHERE tenant_id = {tenant:UInt32}",
        {"tenant": tenant_id},
    )
    return {r.pop("device"): r for r in rows}
