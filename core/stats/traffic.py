"""Protocol tables of a period from the daily rollups kept at ingest (a period is whole UTC days):
protocols in use (``pairs_1d``: flows, bytes, packets and the site devices on either side) and OT
functions (``event_actions_1d``: events per protocol and action). A device here is a site address
(core.analytics.ledger.is_local_host)."""

from __future__ import annotations

from core.analytics.ledger import is_local_host
from core.analytics.roles import OT_SERVICES
from core.stats import labels
from core.stats.periods import Period
from core.stats.table import Table, share
from core.store.clickhouse import ClickHouseStore

# the period's days, of the tenants that delivered a batch in it (the sites counted)
_DAYS = ("day >= {start:DateTime('UTC')} AND day < {end:DateTime('UTC')}"
          " AND tenant_id IN {active:Array(UInt32)}")
MEASURES = ("flows", "bytes", "packets")


def protocols(ch: ClickHouseStore, period: Period, active: list[int]) -> Table:
    """Per transport (group) and service (label, ``unknown`` when none was detected)."""
    sites, params = len(active), {"start": period.start, "end": period.end, "active": active}
    rows = ch.query(
        f"""SELECT tenant_id, proto, service, sum(flows) AS flows, sum(bytes) AS bytes, sum(packets) AS packets
        FROM pairs_1d WHERE {_DAYS} GROUP BY tenant_id, proto, service
        HAVING flows != 0 OR bytes != 0 OR packets != 0""", params)  # a take-out leaves zero sums
    totals = {m: sum(r[m] for r in rows) for m in MEASURES}

    def measures(cell):
        return {"site_share": share(len(cell.tenants), sites),
                **{m: cell.sums[m] for m in MEASURES},
                **{f"{m[:-1]}_share": share(cell.sums[m], totals[m]) for m in MEASURES}}

    table = Table("protocols", measures)
    for r in rows:
        table.add(labels.name(r["proto"]), labels.name(r["service"]), r["tenant_id"],
                  **{m: r[m] for m in MEASURES})
    for r in ch.query(
            f"""SELECT DISTINCT tenant_id, proto, service, host FROM (
                SELECT tenant_id, proto, service, orig_h, resp_h FROM pairs_1d WHERE {_DAYS}
                GROUP BY tenant_id, proto, service, orig_h, resp_h
                HAVING sum(flows) != 0 OR sum(bytes) != 0 OR sum(packets) != 0)
            ARRAY JOIN [orig_h, resp_h] AS host""", params):
        if is_local_host(r["host"]):
            table.add(labels.name(r["proto"]), labels.name(r["service"]), r["tenant_id"], r["host"])
    return table


def ot_functions(ch: ClickHouseStore, period: Period, active: list[int]) -> Table:
    """Per OT protocol (group) and function (label): events, and the devices that sent or got them."""
    sites = len(active)
    rows = ch.query(
        f"""SELECT tenant_id, protocol, action, orig_h, resp_h, sum(count) AS events FROM event_actions_1d
        WHERE {_DAYS} AND protocol IN {{ot:Array(String)}} GROUP BY tenant_id, protocol, action, orig_h, resp_h
        HAVING events != 0""",
        {"start": period.start, "end": period.end, "active": active, "ot": sorted(OT_SERVICES)})
    total = sum(r["events"] for r in rows)
    table = Table("ot_functions", lambda cell: {"site_share": share(len(cell.tenants), sites),
                                                "events": cell.sums["events"],
                                                "event_share": share(cell.sums["events"], total)})
    for r in rows:
        cell = table.cell(labels.name(r["protocol"]), labels.name(r["action"]))
        cell.add(r["tenant_id"], events=r["events"])
        for host in (r["orig_h"], r["resp_h"]):
            if is_local_host(host):
                cell.add(r["tenant_id"], host)
    return table
