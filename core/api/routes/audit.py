"""/api/v1/audit: an admin reads their own tenant's audit log, newest first."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import Field

from core.access import auditlog
from core.api.deps import DB, MAX_ID, Admin
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.store.controlplane import AuditLog

router = APIRouter(tags=["audit"])


class AuditEntry(Out):
    id: int
    ts: datetime
    actor: str = Field(description="who acted: a user's e-mail address, sensor:<serial>, or cli",
                       examples=["admin@example.com"])
    action: str = Field(examples=["user.disable"])
    detail: str

    @classmethod
    def of(cls, row: AuditLog) -> AuditEntry:
        return cls(id=row.id, ts=row.ts, actor=row.actor, action=row.action, detail=row.detail)


@router.get("/api/v1/audit", responses=refusals({401: NEEDS_LOGIN, 403: "not an admin"}))
def list_audit(
    who: Admin,
    db: DB,
    action: str = Query("", max_length=100, description="action prefix, e.g. login or user.disable"),
    actor: str = Query("", max_length=320, description="part of the actor"),
    before_id: int | None = Query(None, ge=1, le=MAX_ID, description="entries older than this id (paging)"),
    limit: int = Query(auditlog.PAGE, ge=1, le=1000),
) -> list[AuditEntry]:
    rows = auditlog.entries(db, who.tenant_id, action, actor, before_id, limit)
    return [AuditEntry.of(row) for row in rows]
