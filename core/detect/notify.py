"""The one place an alert leaves detection: raised, folded into or changed by an analyst, it is
handed to forwarding (``core.forward.outbox.enqueue``) when forwarding is installed."""

from __future__ import annotations

import importlib

from sqlalchemy.orm import Session


def send(db: Session, tenant_id: int, alert: dict) -> None:
    """Queue ``alert`` (as ``core.detect.store.public`` shows it) for the tenant's destinations."""
    try:
        outbox = importlib.import_module("core.forward.outbox")
    except ModuleNotFoundError:
        return
    outbox.enqueue(db, tenant_id, alert)
