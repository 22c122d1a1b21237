"""A tenant's rows per table, counted as its export reads them (``core.export.tenant.row_counts``:
exact, tables that merge rows read FINAL), kept until anything of the tenant changes (core.analytics.kept:
every source, its batches, notes, alerts, comments, indicators, baselines, snapshots and deletions)."""

from __future__ import annotations

from core.analytics.kept import Kept
from core.export import tenant
from core.store.clickhouse import ClickHouseStore

_COUNTS: Kept[dict[str, int]] = Kept(None, size=1)  # one result a tenant


def row_counts(ch: ClickHouseStore, tenant_id: int) -> dict[str, int]:
    """Table → the tenant's rows (the same dict for every caller until the tenant's data changes)."""
    return _COUNTS.get(ch, tenant_id, "rows", lambda: tenant.row_counts(ch, tenant_id))
