"""A tenant's sensors (control plane) with what each has delivered (batch log) and its health."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor

JAPAN = ZoneInfo("Asia/Tokyo")  # completion dates are contract dates in Japan (specs/tariff.md)


def _japan_date(t: datetime | None) -> date | None:
    return t.astimezone(JAPAN).date() if t else None


def _lag_s(now: datetime, end: datetime | None) -> float | None:
    # A sensor clock ahead of the core's reads as no lag rather than a negative one.
    return max(0.0, (now - end).total_seconds()) if end else None


def sensors_overview(db: Session, ch: ClickHouseStore, tenant_id: int, now: datetime) -> list[dict]:
    """One dict per sensor: identity, lifecycle status and dates, latest health report,
    ``batches``/``packets`` delivered (all-time), the end of the newest delivered batch's interval
    and ``upload_lag_s``, how far ``now`` is past it (None before the first batch)."""
    stats = {
        r["sensor_id"]: r
        for r in ch.query(
            "SELECT sensor_id, count() AS batches, sum(packets) AS packets,"
            " max(interval_end) AS last_interval_end FROM batches"
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
            "status": s.status,
            "activated_at": s.activated_at,
            "installed_at": s.installed_at,
            "opening_tested_at": s.opening_tested_at,
            "installation_completed_date": _japan_date(s.installed_at),
            "opening_test_completed_date": _japan_date(s.opening_tested_at),
            "last_seen": s.last_seen,
            "health": s.health,
            "health_at": s.health_at,
            "batches": stats.get(s.id, {}).get("batches", 0),
            "packets": stats.get(s.id, {}).get("packets", 0),
            "last_interval_end": stats.get(s.id, {}).get("last_interval_end"),
            "upload_lag_s": _lag_s(now, stats.get(s.id, {}).get("last_interval_end")),
        }
        for s in sensors
    ]
