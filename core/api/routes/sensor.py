"""/api/v1/sensor/*: what a sensor reports about itself (its token says which sensor it is).

``clock`` gives the core's time for skew checks; ``installation`` and ``opening-test`` record the
completion dates that billing uses (first report wins); ``health`` stores the latest health report.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.fleet import installation
from core.api.deps import DB, IngestorDep, Now, SensorAuth
from core.api.models import Out, refusals

router = APIRouter(prefix="/api/v1/sensor", tags=["sensor"])
NO_SENSOR = {401: "no valid sensor token"}


class Clock(Out):
    utc: datetime = Field(description="the core's time")


class Progress(Out):
    """The sensor's completion times as the core recorded them (the first report of each wins)."""

    installed_at: datetime | None
    opening_tested_at: datetime | None
    status: Literal["activated", "opened"] = Field(description="opened once the opening test is recorded")


class Stored(Out):
    status: Literal["stored"]


def _progress(sensor) -> dict:
    return {"installed_at": sensor.installed_at, "opening_tested_at": sensor.opening_tested_at,
            "status": sensor.status}


@router.get("/clock", responses=refusals(NO_SENSOR))
def clock(sensor: SensorAuth, now: Now) -> Clock:
    return {"utc": now}


@router.post("/installation", responses=refusals(NO_SENSOR))
def record_installation(sensor: SensorAuth, db: DB, now: Now) -> Progress:
    installation.record(db, sensor, "installation", now)
    return _progress(sensor)


class Check(BaseModel):
    name: str = Field(max_length=100)
    status: str = Field(max_length=10)
    detail: str = Field(default="", max_length=500)


class OpeningTest(BaseModel):
    batch_id: uuid.UUID  # the test batch the sensor sent; it must have been stored
    checks: list[Check] = Field(default=[], max_length=50)


@router.post("/opening-test",
             responses=refusals(NO_SENSOR | {409: "the test batch has not been stored by the core"}))
def record_opening_test(body: OpeningTest, sensor: SensorAuth, db: DB, ingestor: IngestorDep,
                        now: Now) -> Progress:
    if not ingestor.has_batch(sensor.tenant_id, sensor.id, str(body.batch_id)):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"test batch {body.batch_id} has not been stored by the core")
    checklist = ", ".join(f"{c.name}: {c.status}" for c in body.checks)
    installation.record(db, sensor, "opening-test", now, f"batch {body.batch_id}; {checklist}"[:1500])
    return _progress(sensor)


class Health(BaseModel):
    """A sensor's health report; rates and counters are the newest capture interval's."""

    model_config = ConfigDict(extra="forbid")
    capture_pps: float | None = Field(default=None, ge=0)
    kernel_drops: int | None = Field(default=None, ge=0)
    parse_errors: int | None = Field(default=None, ge=0)
    evicted_flows: int | None = Field(default=None, ge=0)  # flows the full flow table reported early
    dropped_events: int | None = Field(default=None, ge=0)  # decoder events over the per-interval cap
    # frames of link types the sensor cannot decode (counted in parse_errors), per link type number
    unknown_link_types: dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")], Annotated[int, Field(ge=0)]] = (
        Field(default_factory=dict, max_length=64))
    capture_at: datetime | None = None
    spool_depth: int = Field(ge=0)
    spool_bytes: int = Field(ge=0)
    spool_oldest_age_s: float | None = Field(default=None, ge=0)
    spool_evicted: int = Field(default=0, ge=0)
    spool_write_failures: int = Field(default=0, ge=0)  # batches the spool disk could not take (full?)
    spool_rejected: int = Field(default=0, ge=0)  # batches set aside: the core refused them for good (4xx)
    last_rejection: str = Field(default="", max_length=500)  # the core's reason for the newest of them
    last_upload: datetime | None = None
    last_error: str = Field(default="", max_length=500)  # why the last upload attempt failed, until one succeeds
    bytes_this_month: int = Field(ge=0)
    monthly_budget_bytes: int = Field(ge=0)
    data_mode: Literal["full", "economy"] = "full"  # economy: near the budget, flows sent as summaries


@router.post("/health", responses=refusals(NO_SENSOR))
def report_health(body: Health, sensor: SensorAuth, db: DB, now: Now) -> Stored:
    sensor.health = body.model_dump(mode="json")
    sensor.health_at = now
    db.commit()
    return {"status": "stored"}
