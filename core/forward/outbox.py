"""The outbox: alert changes waiting to be forwarded, written in the caller's transaction.

Alert detection calls ``enqueue(db, tenant_id, *alerts)`` whenever an alert is raised or changes
(status, count), in the same control-plane session as its own change, so a change is forwarded
if and only if it is committed. One row is written per destination of the tenant whose minimum
severity the alert reaches; the worker (``core.forward.worker``) delivers them in order.

The alert is a plain dict with the API's field names (``core.detect.store.public``'s answer will
do: ``ts``/``ts_last`` may be datetimes, ``sensor_id`` stands in for ``sensor``, other keys such as
comments and evidence are not forwarded; missing optional fields are sent empty)::

    {
        "id": "…",                     # the alert's id (str), required
        "kind": "plc_stop",            # core.detect.kinds.KINDS, required
        "severity": "critical",        # core.detect.kinds.SEVERITIES, required
        "title_ja": "PLC停止", "title_en": "PLC stop",
        "ts": 1733450000000000,        # first occurrence, µs since the epoch (data time)
        "ts_last": 1733450060000000,   # latest occurrence, µs since the epoch
        "count": 3,
        "status": "new",               # core.detect.kinds.STATUSES
        "src": {"ip": "10.0.0.5", "mac": "00:11:22:33:44:55"},
        "dst": {"ip": "10.0.0.10", "mac": "00:11:22:33:44:66"},
        "protocol": "s7comm",
        "technique": "T0858",          # ATT&CK for ICS
        "details": {"function": "PLC STOP"},   # name → value (text)
        "sensor": "SN-0001",           # the sensor's serial
    }
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.detect.kinds import SEVERITIES
from core.forward.models import Destination, OutboxEntry


def reaches(severity: str, minimum: str) -> bool:
    """Whether an alert of ``severity`` is at least ``minimum`` (SEVERITIES is most severe first)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(minimum)


FIELDS = ("id", "kind", "severity", "title_ja", "title_en", "ts", "ts_last", "count", "status", "src", "dst",
          "protocol", "technique", "details", "sensor")


def _us(value: object) -> int:
    return int(value.timestamp() * 1_000_000) if isinstance(value, datetime) else int(value or 0)


def portable(alert: dict) -> dict:
    """The forwarded fields of ``alert``, JSON-serialisable (times in µs since the epoch)."""
    kept = {field: alert.get(field, "") for field in FIELDS}
    kept.update(id=str(alert["id"]), ts=_us(alert.get("ts")), ts_last=_us(alert.get("ts_last")),
                count=int(alert.get("count") or 1), sensor=str(alert.get("sensor", alert.get("sensor_id", ""))),
                details={str(k): str(v) for k, v in dict(alert.get("details") or {}).items()})
    for side in ("src", "dst"):
        end = alert.get(side) or {}
        kept[side] = {"ip": str(end.get("ip") or ""), "mac": str(end.get("mac") or "")}
    return kept


def enqueue(db: Session, tenant_id: int, *alerts: dict) -> int:
    """Queue each alert for each of the tenant's destinations it reaches; the rows queued.

    Adds to ``db`` without committing: the caller's transaction decides.
    """
    for alert in alerts:
        if not alert.get("id") or alert.get("severity") not in SEVERITIES:
            raise ValueError("an alert needs an id and a severity of " + ", ".join(SEVERITIES))
    if not alerts:
        return 0
    destinations = db.scalars(select(Destination).where(Destination.tenant_id == tenant_id)).all()
    queued = 0
    for alert in map(portable, alerts):
        for destination in destinations:
            if reaches(alert["severity"], destination.min_severity):
                db.add(OutboxEntry(tenant_id=tenant_id, destination_id=destination.id,
                                   alert_id=str(alert["id"]), alert=alert))
                queued += 1
    return queued


def pending(db: Session, destination_id: int, limit: int) -> list[OutboxEntry]:
    """The oldest undelivered rows of a destination, in delivery order."""
    return list(db.scalars(
        select(OutboxEntry)
        .where(OutboxEntry.destination_id == destination_id, OutboxEntry.delivered_at.is_(None))
        .order_by(OutboxEntry.id).limit(limit)
    ))


def queue_state(db: Session, destination_id: int) -> tuple[int, datetime | None]:
    """(rows waiting, when the oldest of them was queued)."""
    depth, oldest = db.execute(
        select(func.count(), func.min(OutboxEntry.created_at))
        .where(OutboxEntry.destination_id == destination_id, OutboxEntry.delivered_at.is_(None))
    ).one()
    return depth, oldest
