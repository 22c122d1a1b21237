"""GET /api/v1/changes (and .csv): what changed between two periods of the tenant's ledger (差分)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import Field

from core.analytics import changes as diff
from core.analytics.window import resolve_window
from core.api.deps import ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, csv_response, refusals
from core.api.period import Bound, checked

router = APIRouter(tags=["changes"])

DEFAULT_SPAN = timedelta(days=7)
VOLATILE = "null when volatile=false"
ERRORS = refusals({401: NEEDS_LOGIN, 422: "a period whose start is not before its end"})


class Span(Out):
    start: datetime = Field(description="inclusive")
    end: datetime = Field(description="exclusive")


class Device(Out):
    """A device seen in one period and not the other."""

    device: str = Field(description="the ledger's key: its MAC, else its IP")
    ip: str
    mac: str
    role: str
    vendor: str
    model: str
    hostname: str
    first_seen: datetime | None = Field(description=f"first sighting in its period; {VOLATILE}")
    last_seen: datetime | None = Field(description=f"last sighting in its period; {VOLATILE}")


class AttributeChange(Out):
    """A field of a device seen in both periods, as it stood at the end of each."""

    device: str
    ip: str = Field(description="its main IP in period B")
    attribute: str = Field(description=", ".join(diff.COMPARED))
    old: str = Field(description="at the end of period A (lists comma-separated; empty: not known)")
    new: str = Field(description="at the end of period B")


class Pair(Out):
    """A client talking to a server over a service in one period and not the other."""

    orig_h: str = Field(description="the client")
    resp_h: str = Field(description="the server")
    orig_device: str = Field(description="the client's device key; empty when it is no device of the ledger")
    resp_device: str
    proto: str = Field(examples=["tcp"])
    service: str = Field(description="the detected service, else the server port's usual one, else proto/port",
                         examples=["modbus"])
    first_seen: datetime | None = Field(description=VOLATILE)
    last_seen: datetime | None = Field(description=VOLATILE)
    bytes: int | None = Field(description=f"in the hours the period touches; {VOLATILE}")
    packets: int | None = Field(description=f"in the hours the period touches; {VOLATILE}")


class Function(Out):
    """A protocol action a pair used in period B and not in period A."""

    orig_h: str
    resp_h: str
    orig_device: str
    resp_device: str
    protocol: str = Field(examples=["s7comm"])
    action: str = Field(examples=["write_var"])
    count: int | None = Field(description=f"uses in period B; {VOLATILE}")
    first_seen: datetime | None = Field(description=VOLATILE)
    last_seen: datetime | None = Field(description=VOLATILE)


class Totals(Out):
    """How many changes of each kind there were (each list holds at most 1000)."""

    devices_added: int
    devices_removed: int
    attributes_changed: int
    pairs_added: int
    pairs_removed: int
    functions_added: int


class Changes(Out):
    """Period B against period A."""

    a: Span
    b: Span
    volatile: bool = Field(description="whether counters and first/last-seen times are included")
    totals: Totals
    devices_added: list[Device]
    devices_removed: list[Device]
    attributes_changed: list[AttributeChange]
    pairs_added: list[Pair]
    pairs_removed: list[Pair]
    functions_added: list[Function]


def periods(ch: ClickHouse, who: Principal, a_start: Bound = None, a_end: Bound = None,
            b_start: Bound = None, b_end: Bound = None) -> tuple[tuple[datetime, datetime], ...]:
    """Periods A and B; a bound not given is the default's: B the 7 days up to the newest data,
    A the 7 days before."""
    latest = resolve_window(ch, who.tenant_id).end
    a = checked(a_start or latest - 2 * DEFAULT_SPAN, a_end or latest - DEFAULT_SPAN, "period A")
    b = checked(b_start or latest - DEFAULT_SPAN, b_end or latest, "period B")
    return a, b


Periods = Annotated[tuple[tuple[datetime, datetime], ...], Depends(periods)]
Volatile = Annotated[bool, Query(description="include counters and first/last-seen times")]


@router.get("/api/v1/changes", responses=ERRORS)
def get_changes(who: Principal, ch: ClickHouse, between: Periods, volatile: Volatile = True) -> Changes:
    """Devices added and removed, attributes changed (old → new), communication pairs added and
    removed per service, and functions newly used per pair, from period A to period B."""
    a, b = between
    return diff.changes(ch, who.tenant_id, a, b, volatile)


@router.get("/api/v1/changes.csv", response_class=Response,
            responses=csv_response("one row per change, its kind first") | ERRORS)
def export_changes(who: Principal, ch: ClickHouse, between: Periods, volatile: Volatile = True) -> Response:
    a, b = between
    return Response(diff.changes_csv(diff.changes(ch, who.tenant_id, a, b, volatile)),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="changes.csv"'})
