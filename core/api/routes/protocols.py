"""GET /api/v1/protocols: traffic by service and transport protocol."""

from __future__ import annotations

from fastapi import APIRouter

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow

router = APIRouter(tags=["protocols"])


@router.get("/api/v1/protocols")
def protocols(who: Principal, ch: ClickHouse, window: TimeWindow) -> list[dict]:
    return overview.protocols(ch, who.tenant_id, window)
