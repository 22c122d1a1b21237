"""GET /api/v1/traffic (time series) and /api/v1/totals, from the per-minute rollup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow
from core.api.models import NEEDS_LOGIN, Out, Volume, refusals

router = APIRouter(tags=["traffic"])
MAX_SERIES_POINTS = 10_000  # a longer series is refused, not built (one query, one response)


WINDOW_ERRORS = {400: "a bad start or end", 401: NEEDS_LOGIN}


class Point(Volume):
    """Traffic of one step."""

    t: datetime = Field(description="the step's start")


class Series(Out):
    """Traffic per step over the window, steps without traffic included as zeros."""

    start: datetime
    end: datetime
    step: int = Field(description="seconds per point", examples=[300])
    series: list[Point]


class Totals(Volume):
    """Traffic in the window from the flows, next to what the sensors counted while capturing."""

    batches: int = Field(description="batches whose interval starts in the window")
    captured_packets: int = Field(description="packets the sensors captured")
    captured_bytes: int
    parse_errors: int = Field(description="frames the sensors could not decode")
    kernel_drops: int = Field(description="packets the capture lost before the sensor saw them")


@router.get("/api/v1/traffic", responses=refusals(WINDOW_ERRORS | {422: "step too small for the window"}))
def traffic(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    step: Annotated[
        int | None, Query(ge=60, le=86400, description="seconds per point")
    ] = None,
) -> Series:
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


@router.get("/api/v1/totals", responses=refusals(WINDOW_ERRORS))
def totals(who: Principal, ch: ClickHouse, window: TimeWindow) -> Totals:
    return overview.totals(ch, who.tenant_id, window)
