"""GET /api/v1/explore/flows and /api/v1/explore/events: hunting across the site's raw records with
filters, a sort, keyset pages, the result's count and its timeline (core.analytics.explore)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from core.analytics import explore
from core.api.deps import ClickHouse, Principal, TimeWindow
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.api.routes.flows import Flow
from core.detect.danger import DANGERS

router = APIRouter(tags=["explore"])
Text = Annotated[str | None, Query(max_length=explore.MAX_TEXT)]


class Event(Out):
    """One application-level action (repeats within a batch folded into ``count``)."""

    ts: datetime
    ts_end: datetime
    sensor_id: int
    uid: str = Field(description="the flow it was seen in")
    orig_h: str
    resp_h: str
    resp_p: int
    protocol: str = Field(examples=["modbus"])
    action: str = Field(examples=["WRITE_SINGLE_REGISTER"])
    status: str
    count: int
    attrs: dict[str, str]
    danger: str = Field(description=f"a dangerous OT action: one of {', '.join(DANGERS)}; empty when none")


class Bucket(Out):
    t: datetime
    n: int


class Result(Out):
    count: int = Field(description="records matching the filters (count() under the same WHERE)")
    bucket_seconds: int
    timeline: list[Bucket]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last")


class FlowResult(Result):
    rows: list[Flow]


class EventResult(Result):
    rows: list[Event]


def _explored(ch, who, kind: explore.Kind, window, query: dict, sort: str, limit: int, cursor: str | None) -> dict:
    try:
        filters = explore.parse_filters(window, query)
        order = explore.sort_of(kind, sort)
        found = explore.search(ch, kind, who.tenant_id, filters, order, limit, cursor)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return {"count": found.count, "bucket_seconds": found.step, "timeline": found.buckets,
            "next_cursor": found.page.next_cursor, "rows": found.page.rows}


BAD = refusals({400: "a bad start or end", 401: NEEDS_LOGIN, 422: "a bad filter, sort or cursor"})
Limit = Annotated[int, Query(ge=1, le=explore.MAX_PAGE)]
Port = Annotated[int | None, Query(ge=0, le=65535)]
Sensor = Annotated[int | None, Query(ge=0, le=2**32 - 1)]
Many = Annotated[list[str], Query(max_length=500)]


@router.get("/api/v1/explore/flows", responses=BAD)
def search_flows(who: Principal, ch: ClickHouse, window: TimeWindow, sensor: Sensor = None,
                  protocol: Text = None, status_: Annotated[str | None, Query(alias="status", max_length=200)] = None,
                  source: Text = None, destination: Text = None, device: Text = None, port: Port = None,
                  uid: Many = [], sort: Annotated[str, Query(max_length=40)] = "-ts", limit: Limit = 100,
                  cursor: Annotated[str | None, Query(max_length=2000)] = None) -> FlowResult:
    query = {"sensor": sensor, "protocol": protocol, "status": status_, "source": source,
             "destination": destination, "device": device, "port": port, "uid": uid}
    return _explored(ch, who, explore.FLOWS, window, query, sort, limit, cursor)


@router.get("/api/v1/explore/events", responses=BAD)
def search_events(who: Principal, ch: ClickHouse, window: TimeWindow, sensor: Sensor = None,
                   protocol: Text = None, action: Text = None,
                   status_: Annotated[str | None, Query(alias="status", max_length=200)] = None,
                   source: Text = None, destination: Text = None, device: Text = None, port: Port = None,
                   attr: Annotated[list[str], Query(max_length=20, description="key=value on the event's attrs")] = [],
                   uid: Many = [], sort: Annotated[str, Query(max_length=40)] = "-ts", limit: Limit = 100,
                   cursor: Annotated[str | None, Query(max_length=2000)] = None) -> EventResult:
    query = {"sensor": sensor, "protocol": protocol, "action": action, "status": status_, "source": source,
             "destination": destination, "device": device, "port": port, "attr": attr, "uid": uid}
    return _explored(ch, who, explore.EVENTS, window, query, sort, limit, cursor)
