"""GET /api/v1/sensors: the caller's sensors with what they have delivered."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from core.analytics.sensors import sensors_overview
from core.api.deps import DB, ClickHouse, Now, Principal
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.api.routes.sensor import Health

router = APIRouter(tags=["sensors"])
JAPAN_DATE = "the date in Japan of the time above (contract dates are Japanese dates)"


class SensorOverview(Out):
    """A sensor: identity, lifecycle, its latest health report and what it has delivered."""

    id: int
    serial: str
    name: str = Field(description="may be empty")
    status: Literal["activated", "opened"] = Field(description="opened once its opening test is recorded")
    activated_at: datetime | None = Field(description="null until a box is activated as this sensor")
    installed_at: datetime | None = Field(description="when the sensor reported its installation complete")
    opening_tested_at: datetime | None = Field(description="when the sensor reported its opening test passed")
    installation_completed_date: date | None = Field(description=JAPAN_DATE)
    opening_test_completed_date: date | None = Field(description=JAPAN_DATE)
    last_seen: datetime | None = Field(description="its newest upload")
    health: Health | None = Field(description="its newest health report, as it was sent")
    health_at: datetime | None
    batches: int = Field(description="batches stored, all time")
    packets: int = Field(description="packets captured in those batches")
    last_interval_end: datetime | None = Field(description="end of the newest stored batch's interval")
    upload_lag_s: float | None = Field(description="seconds the core's clock is past last_interval_end")


# exclude_unset: each health report is shown with the fields it was sent with
@router.get("/api/v1/sensors", response_model_exclude_unset=True, responses=refusals({401: NEEDS_LOGIN}))
def list_sensors(who: Principal, db: DB, ch: ClickHouse, now: Now) -> list[SensorOverview]:
    return sensors_overview(db, ch, who.tenant_id, now)
