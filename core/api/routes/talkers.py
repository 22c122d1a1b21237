"""GET /api/v1/talkers: the busiest IP hosts (hourly rollup: the window widens to whole hours)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow
from core.api.models import NEEDS_LOGIN, Out, refusals

router = APIRouter(tags=["talkers"])


class Talker(Out):
    """An IP host with the traffic it sent and received."""

    ip: str = Field(examples=["10.0.0.2"])
    bytes: int
    packets: int
    peers: int = Field(description="distinct hosts it exchanged packets with")


@router.get("/api/v1/talkers", responses=refusals({400: "a bad start or end", 401: NEEDS_LOGIN}))
def talkers(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[Talker]:
    return overview.talkers(ch, who.tenant_id, window, limit)
