"""GET /api/v1/traffic (time series) and /api/v1/totals, from the per-minute rollup."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow

router = APIRouter(tags=["traffic"])
MAX_SERIES_POINTS = 10_000  # a longer series is refused, not built (one query, one response)


@router.get("/api/v1/traffic")
def traffic(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    step: Annotated[
        int | None, Query(ge=60, le=86400, description="seconds per point")
    ] = None,
) -> dict:
    step = step or overview.default_step(window)
    if (window.end - window.start).total_seconds() / step > MAX_SERIES_POINTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"step too small for the window: at most {MAX_SERIES_POINTS} points")
    return {
        "start": window.start,
        "end": window.end,
        "step": step,
        "series": overview.traffic_series(ch, who.tenant_id, window, step),
    }


@router.get("/api/v1/totals")
def totals(who: Principal, ch: ClickHouse, window: TimeWindow) -> dict:
    return overview.totals(ch, who.tenant_id, window)
