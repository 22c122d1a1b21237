"""A tenant's sensors (control plane) with what each has delivered (batch log)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor


def sensors_overview(db: Session, ch: ClickHouseStore, tenant_id: int) -> list[dict]:
    """[{id, serial, name, last_seen, batches, packets}]; batches and packets are all-time."""
    stats = {
        r["sensor_id"]: r
        for r in ch.query(
            "SELECT sensor_id, count() AS batches, sum(packets) AS packets FROM batches"
            " WHERE tenant_id = {tenant:UInt32} GROUP BY sensor_id",
            {"tenant": tenant_id},
        )
    }
    sensors = db.scalars(
        select(Sensor).where(Sensor.tenant_id == tenant_id).order_by(Sensor.serial)
    )
    return [
        {
            "id": s.id,
            "serial": s.serial,
            "name": s.name,
            "last_seen": s.last_seen,
            "batches": stats.get(s.id, {}).get("batches", 0),
            "packets": stats.get(s.id, {}).get("packets", 0),
        }
        for s in sensors
    ]
