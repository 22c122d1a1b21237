"""GET /api/v1/protocols: traffic by service and transport protocol."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from core.analytics import overview
from core.api.deps import ClickHouse, Principal, TimeWindow
from core.api.models import NEEDS_LOGIN, Volume, refusals

router = APIRouter(tags=["protocols"])


class Protocol(Volume):
    """Traffic of one service over one transport protocol."""

    service: str = Field(description="detected service; empty when none was detected", examples=["modbus"])
    proto: str = Field(examples=["tcp"])


@router.get("/api/v1/protocols", responses=refusals({400: "a bad start or end", 401: NEEDS_LOGIN}))
def protocols(who: Principal, ch: ClickHouse, window: TimeWindow) -> list[Protocol]:
    """By bytes, most first; only services with traffic in the window."""
    return overview.protocols(ch, who.tenant_id, window)
