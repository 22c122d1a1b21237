"""GET /api/v1/assets: the asset ledger (latest state per device)."""

from __future__ import annotations

from fastapi import APIRouter

from core.analytics.assets import list_assets
from core.api.deps import ClickHouse, Principal

router = APIRouter(tags=["assets"])


@router.get("/api/v1/assets")
def assets(who: Principal, ch: ClickHouse) -> list[dict]:
    return list_assets(ch, who.tenant_id)
