"""Sensor fleet health of a period: from the batch log, each sensor's uptime (the share of the
period, from its first batch in it up to the period's end or now, that its batches cover), the
upload lag of every batch (received at the core minus its interval's end) and the bytes it
captured; from the control plane, the share of its monthly data budget that sensors whose latest
health report falls in the period had used. One cell, the fleet: its devices are the sensors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.stats.periods import Period
from core.stats.table import Table
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor

_IN_PERIOD = "interval_start >= {start:DateTime64(6, 'UTC')} AND interval_start < {end:DateTime64(6, 'UTC')}"


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (pandas' and numpy's default)."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def fleet_health(ch: ClickHouseStore, db: Session, period: Period, now: datetime) -> Table:
    params = {"start": period.start, "end": period.end}
    sensors = ch.query(
        f"""SELECT tenant_id, sensor_id, min(interval_start) AS first, sum(bytes) AS captured,
               sum(dateDiff('microsecond', interval_start, interval_end)) / 1e6 AS covered
        FROM batches FINAL WHERE {_IN_PERIOD} GROUP BY tenant_id, sensor_id""", params)
    lag = ch.query(
        f"""SELECT quantilesExactInclusive(0.5, 0.95)(
                   greatest(0, dateDiff('microsecond', interval_end, received_at) / 1e6)) AS q
        FROM batches FINAL WHERE {_IN_PERIOD}""", params)[0]["q"]
    until = min(period.end, now)
    uptime = [min(1.0, s["covered"] / max((until - s["first"]).total_seconds(), s["covered"], 1e-6))
              for s in sensors]
    used = _budget_used(db, period, {s["sensor_id"] for s in sensors})

    def measures(cell):
        if not sensors:
            return {}
        values = {"sensors": len(sensors), "uptime_median": quantile(uptime, 0.5),
                  "uptime_p10": quantile(uptime, 0.1), "upload_lag_median_s": lag[0], "upload_lag_p95_s": lag[1],
                  "captured_bytes_median": quantile([s["captured"] for s in sensors], 0.5)}
        if used:
            values["data_used_share_median"] = quantile(used, 0.5)
        return values

    table = Table("fleet_health", measures)
    for s in sensors:
        table.add("", "fleet", s["tenant_id"], ("sensor", s["sensor_id"]))
    return table


def _budget_used(db: Session, period: Period, reporting: set[int]) -> list[float]:
    """Used share of the monthly budget per sensor whose latest health report is from the period."""
    found = db.scalars(select(Sensor).where(Sensor.id.in_(reporting), Sensor.health_at >= period.start,
                                            Sensor.health_at < period.end)) if reporting else []
    shares = []
    for s in found:
        budget, used = (s.health or {}).get("monthly_budget_bytes"), (s.health or {}).get("bytes_this_month")
        if isinstance(budget, int | float) and isinstance(used, int | float) and budget > 0:
            shares.append(used / budget)
    return shares
