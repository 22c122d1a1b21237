"""Asset ledger: one row per device (by MAC, else IP) from the asset_facts latest-state table."""

from __future__ import annotations

from core.analytics.window import utc
from core.store.clickhouse import ClickHouseStore


def list_assets(ch: ClickHouseStore, tenant_id: int) -> list[dict]:
    """Devices with their latest IP, vendor and hostname and first/last sighting."""
    rows = ch.query(
        """
        WITH facts AS (
            SELECT mac AS m, ip AS i, attribute, argMaxMerge(value) AS value,
                   min(first_seen) AS first, max(last_seen) AS seen
            FROM asset_facts WHERE tenant_id = {tenant:UInt32}
            GROUP BY mac, ip, attribute
        ),
        owners AS (  -- the MAC an IP was last seen with, so facts known only by IP join it
            SELECT i AS owned_ip, argMax(m, seen) AS owner
            FROM facts WHERE m != '' AND i != '' GROUP BY i
        )
        SELECT if(m != '', m, if(owner != '', owner, i)) AS device,
               any(if(m != '', m, owner)) AS mac,
               argMaxIf(i, seen, i != '') AS ip,
               argMaxIf(value, seen, attribute = 'vendor') AS vendor,
               argMaxIf(value, seen, attribute = 'hostname') AS hostname,
               min(first) AS first_seen,
               max(seen) AS last_seen
        FROM facts LEFT JOIN owners ON facts.i = owners.owned_ip
        GROUP BY device
        ORDER BY ip, mac
        """,
        {"tenant": tenant_id},
    )
    return [
        {
            k: (utc(v) if k in ("first_seen", "last_seen") else v)
            for k, v in r.items()
            if k != "device"
        }
        for r in rows
    ]
