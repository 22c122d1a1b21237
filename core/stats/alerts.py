"""Alert tables of a period (the ``alerts`` table, newest version of each): alerts raised in the period
by kind (group) and severity (label), and the insecure practices — alert kinds that say a site
uses clear-text or default credentials, SMBv1, talks with the internet or takes remote sessions —
as the share of sites and devices that showed them at any time in the period. A device is the
ledger key on either side of an alert. Only the tenants that delivered data in the period count (a
repeat folded into an old alert can make it span periods in which its site sent nothing)."""

from __future__ import annotations

from core.detect.kinds import KINDS, SEVERITIES
from core.stats import labels
from core.stats.periods import Period
from core.stats.table import Table, share
from core.store.clickhouse import ClickHouseStore


def _rows(ch: ClickHouseStore, period: Period) -> list[dict]:
    """Alerts active in the period (first seen before its end, last seen after its start)."""
    return ch.query(
        """SELECT tenant_id, kind, severity, ts, src_device, dst_device FROM alerts FINAL
        WHERE ts < {end:DateTime64(6, 'UTC')} AND ts_last >= {start:DateTime64(6, 'UTC')}""",
        {"start": period.start, "end": period.end})


def alert_tables(ch: ClickHouseStore, period: Period, active: set[int], devices: int) -> list[Table]:
    """``active``: the tenants that delivered data in the period (the sites counted), ``devices`` theirs."""
    sites = len(active)
    rows = [r for r in _rows(ch, period) if r["tenant_id"] in active]
    alerts = Table("alerts", lambda cell: {"alerts": cell.sums["alerts"],
                                           "alerts_per_site": share(cell.sums["alerts"], sites),
                                           "site_share": share(len(cell.tenants), sites)})
    practices = Table("insecure_practices", lambda cell: {"site_share": share(len(cell.tenants), sites),
                                                          "device_share": share(len(cell.devices), devices)})
    for r in rows:
        ends = [d for d in (r["src_device"], r["dst_device"]) if d]
        kind = r["kind"] if r["kind"] in KINDS else labels.UNLISTED
        if r["ts"] >= period.start:  # raised in the period
            cell = alerts.cell(kind, r["severity"] if r["severity"] in SEVERITIES else labels.UNLISTED)
            cell.add(r["tenant_id"], alerts=1)
            for device in ends:
                cell.add(r["tenant_id"], device)
        if kind in labels.INSECURE_PRACTICES:
            cell = practices.cell("", kind)
            cell.add(r["tenant_id"])
            for device in ends:
                cell.add(r["tenant_id"], device)
    return [alerts, practices]
