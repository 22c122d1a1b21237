"""Who may read the cross-tenant statistics, and the audit record of every read.

Only the provider's data team: users with role ``datateam`` of the provider's own tenant
(``MIERUKA_PROVIDER_TENANT``); a datateam user of any other tenant is refused like everyone else.
Each read is audited with the purpose its reader gave, apart from every tenant's records (tenant
None: the provider's own, specs/rules.md "Secrecy of communications")."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from core.access.auth import Identity
from core.store.controlplane import Tenant, audit

PURPOSE_MAX = 500


def is_data_team(db: Session, who: Identity, provider_tenant: str) -> bool:
    return who.role == "datateam" and db.get(Tenant, who.tenant_id).name == provider_tenant


def record_read(db: Session, actor: str, action: str, purpose: str, start: date, end: date, kind: str) -> None:
    """Audit one read of the statistics (``stats.export``, ``stats.view``) with its purpose."""
    audit(db, actor, action, None, f"{start.isoformat()}..{end.isoformat()} per {kind}; purpose: {purpose}"[:2000])
    db.commit()
