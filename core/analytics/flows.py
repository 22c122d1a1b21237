"""Raw flow records of a tenant, newest first, for drill-down (not for dashboards' charts)."""

from __future__ import annotations

from core.analytics.explore import MARGIN
from core.analytics.window import Window, utc
from core.store.clickhouse import ClickHouseStore
from sensor import wire

COLUMNS = ["sensor_id", *wire.FLOWS.names]


def list_flows(
    ch: ClickHouseStore,
    tenant_id: int,
    window: Window,
    limit: int = 100,
    offset: int = 0,
    host: str | None = None,
    service: str | None = None,
) -> list[dict]:
    """Flow records active in the window, optionally involving ``host`` or of ``service``."""
    filters = [
        "tenant_id = {tenant:UInt32}",
        "sign = 1",
        # the ordering key's batch interval first (a record lies in its batch's interval), then exact
        "interval_start >= {lo:DateTime64(6, 'UTC')}",
        "interval_start < {hi:DateTime64(6, 'UTC')}",
        "ts < {end:DateTime64(6, 'UTC')}",
        "ts_end >= {start:DateTime64(6, 'UTC')}",
    ]
    if host:
        filters.append("(orig_h = {host:String} OR resp_h = {host:String})")
    if service:
        filters.append("service = {service:String}")
    rows = ch.query(
        f"SELECT {', '.join(COLUMNS)} FROM flows WHERE {' AND '.join(filters)}"
        " ORDER BY ts_end DESC, uid LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {
            "tenant": tenant_id,
            "limit": limit,
            "offset": offset,
            "host": host,
            "service": service,
            "lo": window.start - MARGIN,
            "hi": window.end + MARGIN,
            **window.params,
        },
    )
    return [{**r, "ts": utc(r["ts"]), "ts_end": utc(r["ts_end"])} for r in rows]
