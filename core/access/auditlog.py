"""Reading the audit log: a tenant's own entries, newest first, filtered."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.controlplane import AuditLog

PAGE = 100


def entries(
    db: Session,
    tenant_id: int,
    action: str = "",
    actor: str = "",
    before_id: int | None = None,
    limit: int = PAGE,
) -> list[AuditLog]:
    """Up to ``limit`` entries of ``tenant_id``, newest first: ``action`` matches a prefix
    (``login`` finds login.ok, login.failed, ...), ``actor`` a substring; ``before_id`` pages on."""
    query = select(AuditLog).where(AuditLog.tenant_id == tenant_id)
    if action:
        query = query.where(AuditLog.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditLog.actor.contains(actor, autoescape=True))
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    return list(db.scalars(query.order_by(AuditLog.id.desc()).limit(limit)))
