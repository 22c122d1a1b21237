"""The asset ledger: list (filter, sort, CSV), one device's detail, and analyst annotations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from core.access.auth import Identity
from core.analytics import assets as ledger
from core.analytics.vulnerabilities import for_device
from core.api.deps import DB, Bearer, ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, Volume, csv_response, refusals
from core.api.routes.risk import Level, RiskFactor
from core.api.routes.vulnerabilities import Vulnerability
from core.api.period import Period
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import audit

router = APIRouter(tags=["assets"])

Sort = Literal[*ledger.SORTABLE]  # type: ignore[valid-type]
Authorization = Literal[*ledger.AUTHORIZATION]  # type: ignore[valid-type]
Importance = Literal[*ledger.IMPORTANCE]  # type: ignore[valid-type]
PurdueLevel = Annotated[int, Field(ge=min(ledger.PURDUE_LEVELS), le=max(ledger.PURDUE_LEVELS))]
ZoneName = Annotated[str, Field(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
Search = Annotated[str, Query(max_length=ledger.MAX_QUERY, description="text one of the returned values contains, case aside: role, status and importance as their keys, times in ISO 8601 UTC, a list item by item")]
BEST = "the best observed value (most confident, then most recent); empty when none was observed"


class AssetSummary(Out):
    """A device of the ledger: identity, the best value of each attribute, traffic, analyst notes."""

    device: str = Field(description="the device's key: its MAC on the local segment, else its IP",
                        examples=["00:1b:1b:00:00:02"])
    mac: str = Field(description="empty for a host seen only by IP (behind a router)")
    ip: str = Field(description="its main IP address (empty if none is known)", examples=["10.0.0.2"])
    ips: list[str] = Field(description="every IP address seen for the device, in address order")
    vendor: str = Field(description=BEST)
    hostname: str = Field(description=BEST)
    model: str = Field(description=BEST)
    firmware: str = Field(description=BEST)
    serial: str = Field(description=BEST)
    os: str = Field(description=BEST)
    role: str = Field(description="e.g. plc, hmi, engineering, camera; empty when unknown", examples=["plc"])
    role_source: str = Field(description="what the role rests on: behaviour, ports, or the source that stated it")
    protocols_served: list[str] = Field(description="services it answers, sorted")
    protocols_used: list[str] = Field(description="services it uses as a client, sorted")
    vlans: list[int] = Field(description="VLAN ids its traffic was tagged with (untagged not listed)")
    first_seen: datetime
    last_seen: datetime
    authorized: Authorization = Field(description="analyst's verdict")
    importance: Importance = Field(description="analyst's rating; empty when not rated")
    risk: int = Field(ge=0, le=100, description="risk score: the factors' points, capped at 100 (docs/risk.md)")
    risk_level: Level = Field(description="high from 70, medium from 40 (by default), else low")
    risk_factors: list[RiskFactor] = Field(description="what makes up the score; factors adding nothing left out")
    tags: list[str]
    notes: str
    zone: str = Field(description="the analyst's zone for it; empty: its default zone, the VLAN or subnet"
                      " (GET /api/v1/zones)")
    purdue_level: PurdueLevel | None = Field(description="the analyst's Purdue model level; null: not set")


class AttributeValue(Out):
    """One value of an attribute as one source reported it."""

    value: str
    source: str = Field(description="who reported it, e.g. oui, dhcp, a decoder", examples=["dhcp"])
    confidence: int = Field(description="0-100")
    first_seen: datetime
    last_seen: datetime


class Peer(Volume):
    """Traffic with one peer over one service (hourly rollup, all time)."""

    peer: str = Field(description="the peer's IP address")
    direction: Literal["in", "out"] = Field(description="out: the device opened the connections")
    service: str = Field(description="detected service; empty when none was detected")
    proto: str = Field(examples=["tcp"])
    resp_p: int = Field(description="the server port")
    last_hour: datetime = Field(description="start of the newest hour with traffic")


class Event(Out):
    """An application-level action the device took part in (repeats within a batch folded into one)."""

    ts: datetime = Field(description="first occurrence")
    ts_end: datetime = Field(description="last occurrence")
    count: int
    orig_h: str
    resp_h: str
    resp_p: int
    protocol: str = Field(examples=["modbus"])
    action: str = Field(examples=["read_holding_registers"])
    status: str
    attrs: dict[str, str] = Field(description="protocol-specific details, e.g. unit and address")


class AssetDetail(AssetSummary):
    """A device with every source of every attribute, its peers (at most 200, by bytes) and its
    events, newest first (at most 500)."""

    attributes: dict[str, list[AttributeValue]] = Field(description="by attribute name, best value first")
    peers: list[Peer]
    events: list[Event]
    vulnerabilities: list[Vulnerability] = Field(description="known CVEs from the imported advisories, most severe first")


class SavedAnnotation(Out):
    """What an analyst said about a device, as stored."""

    device: str
    authorized: Authorization
    importance: Importance
    tags: list[str] = Field(description="trimmed, without duplicates, sorted")
    notes: str
    zone: str = Field(description="spaces collapsed; empty: the default zone (VLAN or subnet)")
    purdue_level: PurdueLevel | None
    updated_by: str = Field(description="the e-mail address of the user who saved it")
    updated_at: datetime


@router.get("/api/v1/assets", responses=refusals({401: NEEDS_LOGIN, 422: "start not before end"}))
def list_assets(who: Principal, ch: ClickHouse, window: Period, q: Search = "", role: str = "",
                sort: Sort = "ip", order: Literal["asc", "desc"] = "asc") -> list[AssetSummary]:
    """The devices seen in [start, end) (either open; both open: all history), first and last seen
    within it, attributes as they stood at its end."""
    start, end = window
    return ledger.list_assets(ch, who.tenant_id, q, role, sort, order == "desc", start=start, end=end)


@router.get("/api/v1/assets.csv", response_class=Response,
            responses=csv_response("the listed assets, a row each")
            | refusals({401: NEEDS_LOGIN, 422: "start not before end"}))
def export_assets(who: Principal, ch: ClickHouse, window: Period, q: Search = "", role: str = "") -> Response:
    """For programs: internal keys (role ``plc``, authorisation ``unknown``), times in UTC, UTF-8
    without a BOM. The dashboard's ``/assets.csv`` is the page as a person reads it."""
    start, end = window
    rows = ledger.list_assets(ch, who.tenant_id, q, role, start=start, end=end)
    return Response(ledger.assets_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="assets.csv"'})


@router.get("/api/v1/assets/{device}", responses=refusals({401: NEEDS_LOGIN, 404: "no such device"}))
def asset_detail(device: str, who: Principal, ch: ClickHouse) -> AssetDetail:
    found = ledger.asset_detail(ch, who.tenant_id, device)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {device!r}")
    return {**found, "vulnerabilities": for_device(ch, found)}


def check_writable(ch: ClickHouseStore, who: Identity, bearer: HTTPAuthorizationCredentials | None,
                   devices: list[str]) -> None:
    """Refuses a write without an API token (a cookie alone could be a cross-site request: the
    dashboard has its own forms) or naming a device the tenant does not have."""
    if bearer is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "writes through the API need an API token")
    known = ledger.ledger(ch, who.tenant_id)
    if unknown := [device for device in devices if device not in known]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {unknown[0]!r}")


class Annotation(BaseModel):
    authorized: Literal[*ledger.AUTHORIZATION] = "unknown"  # type: ignore[valid-type]
    importance: Literal[*ledger.IMPORTANCE] = ""  # type: ignore[valid-type]
    tags: list[str] = Field(default_factory=list, max_length=32)
    notes: str = Field("", max_length=4000)
    zone: ZoneName = Field("", description="empty: the default zone (VLAN or subnet)")
    purdue_level: PurdueLevel | None = None


@router.put("/api/v1/assets/{device}/annotation", responses=refusals(
    {401: NEEDS_LOGIN, 403: "a write without an API token", 404: "no such device"}))
def annotate(device: str, body: Annotation, who: Principal, bearer: Bearer, ch: ClickHouse,
             db: DB) -> SavedAnnotation:
    """Set authorisation, importance, tags, notes, zone and Purdue level; they survive re-observation
    (a field left out takes its default: PATCH changes only the fields given)."""
    check_writable(ch, who, bearer, [device])
    saved = ledger.annotate(ch, who.tenant_id, device, who.email, **body.model_dump())
    audit(db, who.email, "asset.annotate", who.tenant_id, f"{device}: {body.model_dump_json()}")
    db.commit()
    return saved


@router.patch("/api/v1/assets/{device}/annotation", responses=refusals(
    {401: NEEDS_LOGIN, 403: "a write without an API token", 404: "no such device"}))
def amend_annotation(device: str, body: Annotation, who: Principal, bearer: Bearer, ch: ClickHouse,
                     db: DB) -> SavedAnnotation:
    """Change only the fields given (e.g. zone or purdue_level), keeping the others."""
    check_writable(ch, who, bearer, [device])
    saved = ledger.amend(ch, who.tenant_id, [device], who.email, **body.model_dump(exclude_unset=True))
    audit(db, who.email, "asset.annotate", who.tenant_id, f"{device}: {body.model_dump_json(exclude_unset=True)}")
    db.commit()
    return saved[0]
