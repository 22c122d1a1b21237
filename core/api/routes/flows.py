"""GET /api/v1/flows: raw flow records for drill-down, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from core.analytics.flows import list_flows
from core.api.deps import ClickHouse, Principal, TimeWindow

router = APIRouter(tags=["flows"])


@router.get("/api/v1/flows")
def flows(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    host: str | None = None,
    service: str | None = None,
) -> list[dict]:
    return list_flows(ch, who.tenant_id, window, limit, offset, host, service)
