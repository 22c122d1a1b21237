"""GET /api/v1/sensors: the caller's sensors with what they have delivered."""

from __future__ import annotations

from fastapi import APIRouter

from core.analytics.sensors import sensors_overview
from core.api.deps import DB, ClickHouse, Now, Principal

router = APIRouter(tags=["sensors"])


@router.get("/api/v1/sensors")
def list_sensors(who: Principal, db: DB, ch: ClickHouse, now: Now) -> list[dict]:
    return sensors_overview(db, ch, who.tenant_id, now)
