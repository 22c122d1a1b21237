"""The site risk trend's daily points when nobody looks: the core computes every tenant's site risk
each hour (``core.api.app``'s periodic jobs), which keeps today's snapshot (``risk_daily``) current."""

from __future__ import annotations

from sqlalchemy import select

from core.analytics.assets import list_assets
from core.analytics.risk import site_risk
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane, Tenant


def keep_daily(ch: ClickHouseStore, controlplane: ControlPlane) -> None:
    """Today's snapshot for every tenant with devices (written only when its figures changed)."""
    with controlplane.session() as db:
        tenants = db.scalars(select(Tenant.id)).all()
    for tenant_id in tenants:
        if devices := list_assets(ch, tenant_id):
            site_risk(ch, tenant_id, devices)
