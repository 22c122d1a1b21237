"""GET /api/v1/talkers: the busiest IP hosts (hourly rollup: the window widens to whole hours)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow

router = APIRouter(tags=["talkers"])


@router.get("/api/v1/talkers")
def talkers(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict]:
    return overview.talkers(ch, who.tenant_id, window, limit)
