"""Traffic statistics of a tenant from the rollups (traffic_1m; pairs_1h and pairs_1d: every hour that
overlaps the window) and the batch log."""

from __future__ import annotations

import math

from core.analytics.kept import INGEST, Kept
from core.analytics.spans import pair_volume_rows, whole_days
from core.analytics.window import Window, utc
from core.store.clickhouse import ClickHouseStore

MAX_POINTS = 300  # default step keeps series at most this long
_RANGE_1M = "tenant_id = {tenant:UInt32} AND minute >= {start:DateTime64(6, 'UTC')} AND minute < {end:DateTime64(6, 'UTC')}"


def default_step(window: Window) -> int:
    """Seconds per point: whole minutes, at most MAX_POINTS points."""
    span = (window.end - window.start).total_seconds()
    return 60 * max(1, math.ceil(span / 60 / MAX_POINTS))


# The overview's figures of a window: from the tenant's batches (core.analytics.kept: kept until they change).
_WINDOWS: Kept[dict] = Kept(INGEST)


def window_stats(ch: ClickHouseStore, tenant_id: int, window: Window, step: int) -> dict:
    """The overview's figures of one window: ``series`` (``traffic_series``), ``totals``, ``protocols`` and
    ``talkers``; kept until their tables change (the same objects for every caller meanwhile)."""
    return _WINDOWS.get(ch, tenant_id, (window.start, window.end, step), lambda: {
        "series": traffic_series(ch, tenant_id, window, step), "totals": totals(ch, tenant_id, window),
        "protocols": protocols(ch, tenant_id, window), "talkers": talkers(ch, tenant_id, window)})


def traffic_series(
    ch: ClickHouseStore, tenant_id: int, window: Window, step: int
) -> list[dict]:
    """Bytes, packets and new flows per ``step`` seconds, gaps filled with zeros."""
    rows = ch.query(
        f"""
        SELECT toDateTime(toStartOfInterval(minute, toIntervalSecond({{step:UInt32}})), 'UTC') AS t,
               sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows
        FROM traffic_1m WHERE {_RANGE_1M}
        GROUP BY t
        ORDER BY t WITH FILL
            FROM toDateTime(toStartOfInterval({{start:DateTime64(6, 'UTC')}}, toIntervalSecond({{step:UInt32}})), 'UTC')
            TO toDateTime({{end:DateTime64(6, 'UTC')}}, 'UTC')
            STEP toIntervalSecond({{step:UInt32}})
        """,
        {"tenant": tenant_id, "step": step, **window.params},
    )
    return [{**r, "t": utc(r["t"])} for r in rows]


def totals(ch: ClickHouseStore, tenant_id: int, window: Window) -> dict:
    params = {"tenant": tenant_id, **window.params}
    traffic = ch.query(
        f"SELECT sum(packets) AS packets, sum(bytes) AS bytes, sum(flows) AS flows FROM traffic_1m WHERE {_RANGE_1M}",
        params,
    )[0]
    batches = ch.query(  # the sensors' own capture counters, to check flows against
        "SELECT count() AS batches, sum(packets) AS captured_packets, sum(bytes) AS captured_bytes,"
        " sum(parse_errors) AS parse_errors, sum(kernel_drops) AS kernel_drops FROM batches FINAL WHERE tenant_id = {tenant:UInt32}"
        " AND interval_start >= {start:DateTime64(6, 'UTC')} AND interval_start < {end:DateTime64(6, 'UTC')}",
        params,
    )[0]
    return {**traffic, **batches}


def protocols(ch: ClickHouseStore, tenant_id: int, window: Window) -> list[dict]:
    return ch.query(
        f"""
        SELECT service, proto, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows
        FROM traffic_1m WHERE {_RANGE_1M}
        GROUP BY service, proto HAVING packets > 0
        ORDER BY bytes DESC, service, proto
        """,
        {"tenant": tenant_id, **window.params},
    )


def talkers(
    ch: ClickHouseStore, tenant_id: int, window: Window, limit: int = 20
) -> list[dict]:
    """IP hosts by bytes sent plus received, with their number of distinct peers."""
    return ch.query(
        f"""
        SELECT ip, sum(b) AS bytes, sum(p) AS packets, count() AS peers
        FROM (
            SELECT ip, peer, sum(bytes) AS b, sum(packets) AS p
            FROM (
                SELECT side_of.1 AS ip, side_of.2 AS peer, bytes, packets
                FROM (SELECT orig_h, resp_h, sum(bytes) AS bytes, sum(packets) AS packets
                      FROM {pair_volume_rows("orig_h, resp_h, bytes, packets")} GROUP BY orig_h, resp_h)
                ARRAY JOIN [(orig_h, resp_h), (resp_h, orig_h)] AS side_of
            )
            WHERE ip != ''
            GROUP BY ip, peer HAVING p > 0
        )
        GROUP BY ip
        ORDER BY bytes DESC, ip
        LIMIT {{limit:UInt32}}
        """,
        {"tenant": tenant_id, "limit": limit, **window.params, **whole_days(window.start, window.end)},
    )
