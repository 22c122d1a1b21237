"""Installation and opening-test completion dates, as reported by the sensor on site.

They feed billing (the opening date of specs/tariff.md depends on both). The first report wins: a
repeated report, from a re-run test or a replacement box, changes nothing until an operator resets
the date. Times are the core's clock, not the sensor's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.store.controlplane import Sensor, audit

MILESTONES = {"installation": Sensor.installed_at, "opening-test": Sensor.opening_tested_at}


def record(db: Session, sensor: Sensor, milestone: str, when: datetime, detail: str = "") -> datetime:
    """Record ``milestone`` at ``when`` unless already recorded; return the recorded time."""
    column = MILESTONES[milestone]
    values = {column.key: when} | ({"status": "opened"} if milestone == "opening-test" else {})
    # The IS NULL condition makes the first of two concurrent reports the one that counts.
    first = db.execute(
        update(Sensor).where(Sensor.id == sensor.id, column.is_(None)).values(**values)
    ).rowcount
    if first:
        audit(db, f"sensor:{sensor.serial}", f"sensor.{milestone}", sensor.tenant_id,
              f"sensor {sensor.id} at {when:%Y-%m-%d %H:%M:%S}Z {detail}".strip())
    elif milestone == "opening-test":  # e.g. a replacement box passed its own test
        sensor.status = "opened"
    db.commit()
    db.refresh(sensor)
    return getattr(sensor, column.key)


def reset(db: Session, sensor: Sensor, milestone: str, actor: str = "cli") -> None:
    """Forget a recorded date so the next report sets it again (an operator decision, audited)."""
    column = MILESTONES[milestone]
    previous = getattr(sensor, column.key)
    setattr(sensor, column.key, None)
    if milestone == "opening-test" and sensor.status == "opened":
        sensor.status = "activated"
    audit(db, actor, f"sensor.{milestone}.reset", sensor.tenant_id,
          f"sensor {sensor.id} ({sensor.serial}), was {previous:%Y-%m-%d %H:%M:%S}Z"
          if previous else f"sensor {sensor.id} ({sensor.serial}), was not set")
    db.commit()
