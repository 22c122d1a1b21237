"""The one place an alert leaves detection: raised, folded into or changed by an analyst, it is
handed to forwarding's outbox in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.forward import outbox


def send(db: Session, tenant_id: int, *alerts: dict) -> None:
    """Queue alerts (as ``core.detect.store.public`` shows them) for the tenant's destinations."""
    outbox.enqueue(db, tenant_id, *alerts)
