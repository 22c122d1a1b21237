"""GET /api/v1/flows: raw flow records for drill-down, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from core.analytics.flows import list_flows
from core.api.deps import ClickHouse, Principal, TimeWindow
from core.api.models import NEEDS_LOGIN, Out, refusals

router = APIRouter(tags=["flows"])


class Flow(Out):
    """One flow's record for one batch interval: counters are the interval's deltas, so sums over
    records are totals. Fields follow Zeek's conn.log."""

    sensor_id: int
    ts: datetime = Field(description="first packet in the interval")
    ts_end: datetime = Field(description="last packet in the interval")
    uid: str = Field(description="the flow's id, the same in every interval")
    community_id: str = Field(examples=["1:LQU9qZlK+B5F3KDmev6m5PMibrg="])
    vlan: int = Field(description="0: untagged")
    orig_h: str = Field(description="originator address; empty for a non-IP frame")
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str = Field(examples=["tcp"])
    ethertype: int = Field(examples=[2048])
    service: str = Field(description="detected application protocol(s), comma-separated; empty when none",
                         examples=["modbus"])
    duration: float = Field(description="seconds since the flow's first packet")
    orig_bytes: int = Field(description="payload bytes")
    resp_bytes: int
    orig_pkts: int
    resp_pkts: int
    orig_ip_bytes: int = Field(description="bytes of IP packets")
    resp_ip_bytes: int
    conn_state: str = Field(examples=["SF"])
    history: str = Field(examples=["ShADadFf"])
    orig_l2_addr: str = Field(description="MAC address")
    resp_l2_addr: str
    final: bool = Field(description="the flow closed in this interval")


@router.get("/api/v1/flows", responses=refusals({400: "a bad start or end", 401: NEEDS_LOGIN}))
def flows(
    who: Principal,
    ch: ClickHouse,
    window: TimeWindow,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    host: str | None = None,
    service: str | None = None,
) -> list[Flow]:
    return list_flows(ch, who.tenant_id, window, limit, offset, host, service)
