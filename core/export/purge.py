"""Deletion when a contract ends (specs/rules.md "Deletion", Art. 25; seeds 000 Art. 47, 003 Art. 15-3).

Every row of the tenant goes from every ClickHouse table with a ``tenant_id`` (found in
``system.columns``: raw records, rollups, ledger state, baselines, alerts, annotations, and any table
added later) and from the control plane, but for what the provider must keep to bill and to answer
for the deletion:

- the tenant's row (its name, marked ``purged_at``) and its contracts, from which invoices are made;
- its sensors' rows with their billing dates only: tokens revoked, health and name cleared;
- the audit record of the deletion, kept apart from any tenant's records (``tenant_id`` empty).

Rows that hang off deleted ones (sessions, API tokens, activation codes) go with them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import MetaData, Table, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.export.tenant import row_counts
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import AuditLog, Contract, Tenant

KEPT = {"tenants": "its name, marked purged", "contracts": "invoices are made from them",
        "contract_sensors": "which sensors a contract bills", "sensors": "billing dates; token, name, health cleared"}
SENSOR_CLEARED = {"token_hash": None, "name": "", "health": None, "health_at": None, "status": "purged"}


def purge_tenant(ch: ClickHouseStore, controlplane: Engine, tenant_id: int, actor: str) -> dict[str, int]:
    """Delete the tenant's data; the rows deleted per table (ClickHouse tables by name, control-plane
    tables as ``controlplane.<name>``)."""
    deleted = {name: n for name, n in row_counts(ch, tenant_id).items()}
    # its change counts last: results read meanwhile are not kept past the deletion (core.store.tenant_changes)
    for table in sorted(ch.tenant_tables(), key=lambda t: t["name"] == "tenant_changes"):
        ch.delete_tenant_rows(table["name"], tenant_id)
    meta = MetaData()
    meta.reflect(controlplane)
    with controlplane.begin() as conn:
        tenant = conn.execute(select(meta.tables["tenants"].c.name).where(meta.tables["tenants"].c.id == tenant_id)
                              ).scalar_one()
        for table in reversed(meta.sorted_tables):  # children before their parents
            if table.name in KEPT:
                continue
            where = _rows_of(table, meta, tenant_id)
            if where is not None:
                deleted[f"controlplane.{table.name}"] = conn.execute(delete(table).where(where)).rowcount
        sensors = meta.tables["sensors"]
        conn.execute(update(sensors).where(sensors.c.tenant_id == tenant_id).values(
            **{k: v for k, v in SENSOR_CLEARED.items() if k in sensors.c}))
        now = datetime.now(UTC)
        conn.execute(update(Tenant.__table__).where(Tenant.__table__.c.id == tenant_id).values(purged_at=now))
        total = sum(deleted.values())
        conn.execute(AuditLog.__table__.insert().values(
            ts=now, tenant_id=None, actor=actor, action="tenant.purge",
            detail=f"tenant {tenant_id} ({tenant}): {total} rows deleted from {len(deleted)} tables"[:2000]))
    return deleted


def _rows_of(table: Table, meta: MetaData, tenant_id: int):
    """The tenant's rows of a control-plane table: by its ``tenant_id``, or for a table without one,
    through a foreign key to a table that has it (a session through its user); None if neither."""
    if "tenant_id" in table.c:
        return table.c.tenant_id == tenant_id
    for fk in table.foreign_keys:
        parent = fk.column.table
        if "tenant_id" in parent.c:
            return fk.parent.in_(select(fk.column).where(parent.c.tenant_id == tenant_id))
    return None


def ended(controlplane: Engine, grace_days: float, today: date | None = None) -> list[int]:
    """Tenants to delete: not yet purged, with contracts that all have a termination date, the last
    of which is more than ``grace_days`` ago (the time a customer has to take its export)."""
    today = today or datetime.now(UTC).date()
    out = []
    with Session(controlplane) as db:
        for tenant in db.scalars(select(Tenant).where(Tenant.purged_at.is_(None))):
            ends = [c.document.get("termination_date") for c in
                    db.scalars(select(Contract).where(Contract.tenant_id == tenant.id))]
            if ends and all(ends) and date.fromisoformat(max(ends)) + timedelta(days=grace_days) < today:
                out.append(tenant.id)
    return out


def purge_ended(ch: ClickHouseStore, controlplane: Engine, grace_days: float, today: date | None = None
                ) -> list[int]:
    """Purge every tenant whose contracts ended (``ended``); their ids."""
    done = ended(controlplane, grace_days, today)
    for tenant_id in done:
        purge_tenant(ch, controlplane, tenant_id, actor="retention")
    return done
