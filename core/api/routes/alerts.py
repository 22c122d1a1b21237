"""Alerts: list (filters, paging, sort, CSV), one alert with its evidence, triage and learn."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core.analytics.window import clamp
from core.api.deps import DB, Bearer, ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, csv_response, refusals
from core.detect import store
from core.detect.kinds import KINDS, SEVERITIES, STATUSES

router = APIRouter(tags=["alerts"])

Kind = Literal[*KINDS]  # type: ignore[valid-type]
Severity = Literal[*SEVERITIES]  # type: ignore[valid-type]
Status = Literal[*STATUSES]  # type: ignore[valid-type]
Sort = Literal[*store.SORTABLE]  # type: ignore[valid-type]
AlertId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="the alert's id (32 hex digits)")]
NO_ALERT = "no such alert"
TOKEN_ONLY = "a write without an API token"


class End(Out):
    """One side of an alert."""

    ip: str = Field(examples=["10.0.0.66"])
    mac: str = Field(examples=["02:00:00:00:00:66"])
    device: str = Field(description="the device's key: its MAC on the local segment, else its IP")


class Comment(Out):
    ts: datetime
    author: str = Field(description="the e-mail address of who wrote it")
    text: str


class Alert(Out):
    """An alert: what happened (kind, severity, titles, details), between whom, since when and how
    often (repeats fold into one open alert), and where the analyst stands with it."""

    id: str = Field(description="derived from tenant, sensor, kind, key and first time")
    sensor_id: int
    ts: datetime = Field(description="first occurrence (data time)")
    ts_last: datetime = Field(description="latest occurrence folded in")
    count: int = Field(description="occurrences folded into this alert")
    kind: Kind
    severity: Severity
    title_ja: str
    title_en: str
    src: End
    dst: End
    protocol: str
    details: dict[str, str] = Field(description="what the analyst is shown, by name")
    technique: str = Field(description="MITRE ATT&CK for ICS technique id", examples=["T0858"])
    technique_name: str
    evidence: list[str] = Field(description="uids of the flows and events that show it")
    status: Status
    assignee: str
    comments: list[Comment]


class EvidenceFlow(Out):
    ts: datetime
    ts_end: datetime
    uid: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str
    service: str
    orig_bytes: int
    resp_bytes: int
    orig_pkts: int
    resp_pkts: int
    conn_state: str
    orig_l2_addr: str
    resp_l2_addr: str


class EvidenceEvent(Out):
    ts: datetime
    ts_end: datetime
    count: int
    uid: str
    orig_h: str
    resp_h: str
    resp_p: int
    protocol: str
    action: str
    status: str
    attrs: dict[str, str]


class AlertDetail(Alert):
    """An alert with the flows and events its evidence names (while it lasted, at most 100 each)."""

    evidence_flows: list[EvidenceFlow]
    evidence_events: list[EvidenceEvent]


class AlertPage(Out):
    total: int = Field(description="alerts matching the filters")
    alerts: list[Alert]


class AlertChange(BaseModel):
    status: Status | None = None
    assignee: str | None = Field(None, max_length=320)
    comment: str | None = Field(None, min_length=1, max_length=4000)


def _filters(start: datetime | None = None, end: datetime | None = None,
             status: Annotated[list[Status], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
             severity: Annotated[list[Severity], Query()] = [],  # noqa: B006
             kind: Annotated[list[Kind], Query()] = [],  # noqa: B006
             device: str = Query("", max_length=200, description="an IP, MAC or device key on either side")) -> dict:
    """The filters; times (ISO 8601, UTC if no offset) clamped to what the store holds."""
    return {"start": start and clamp(start), "end": end and clamp(end), "status": status, "severity": severity,
            "kind": kind, "device": device}


Filters = Annotated[dict, Depends(_filters)]


@router.get("/api/v1/alerts", responses=refusals({401: NEEDS_LOGIN}))
def list_alerts(who: Principal, ch: ClickHouse, filters: Filters, sort: Sort = "ts",
                order: Literal["asc", "desc"] = "desc", limit: int = Query(100, ge=1, le=store.MAX_PAGE),
                offset: int = Query(0, ge=0, le=10**9)) -> AlertPage:
    """Alerts overlapping [start, end) (times of their first and latest occurrence), filtered;
    severity sorts critical first when descending."""
    return {"total": store.count_alerts(ch, who.tenant_id, **filters),
            "alerts": store.list_alerts(ch, who.tenant_id, **filters, sort=sort, descending=order == "desc",
                                        limit=limit, offset=offset)}


@router.get("/api/v1/alerts.csv", response_class=Response,
            responses=csv_response("the filtered alerts (at most 1000), a row each") | refusals({401: NEEDS_LOGIN}))
def export_alerts(who: Principal, ch: ClickHouse, filters: Filters, sort: Sort = "ts",
                  order: Literal["asc", "desc"] = "desc") -> Response:
    rows = store.list_alerts(ch, who.tenant_id, **filters, sort=sort, descending=order == "desc",
                             limit=store.MAX_PAGE)
    return Response(store.alerts_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="alerts.csv"'})


@router.get("/api/v1/alerts/{alert_id}", responses=refusals({401: NEEDS_LOGIN, 404: NO_ALERT}))
def get_alert(alert_id: AlertId, who: Principal, ch: ClickHouse) -> AlertDetail:
    found = store.get_alert(ch, who.tenant_id, alert_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_ALERT)
    return found


def _writer(bearer) -> None:
    if bearer is None:  # a cookie alone could be a cross-site request: the dashboard has its own form
        raise HTTPException(status.HTTP_403_FORBIDDEN, "writes through the API need an API token")


@router.patch("/api/v1/alerts/{alert_id}", responses=refusals(
    {401: NEEDS_LOGIN, 403: TOKEN_ONLY, 404: NO_ALERT}))
def update_alert(alert_id: AlertId, body: AlertChange, who: Principal, bearer: Bearer, ch: ClickHouse,
                 db: DB) -> Alert:
    """Set status and/or assignee, add a comment; every change is audited."""
    _writer(bearer)
    found = store.update_alert(ch, db, who.tenant_id, alert_id, who.email, body.status, body.assignee,
                               body.comment)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_ALERT)
    db.commit()
    return found


@router.post("/api/v1/alerts/{alert_id}/learn", responses=refusals(
    {401: NEEDS_LOGIN, 403: TOKEN_ONLY, 404: NO_ALERT, 422: "the alert's kind names nothing to learn"}))
def learn(alert_id: AlertId, who: Principal, bearer: Bearer, ch: ClickHouse, db: DB) -> Alert:
    """Make what a new_device, new_link or new_ot_function alert names normal (it joins the
    baseline) and resolve the alert."""
    _writer(bearer)
    try:
        found = store.learn(ch, db, who.tenant_id, alert_id, who.email)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_ALERT)
    db.commit()
    return found
