"""Zones: the ledger's devices by zone (VLAN or subnet unless the analyst named one) with their
Purdue levels, the traffic between zones (hourly rollup), and assigning a zone to several devices."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.analytics import assets as ledger
from core.analytics import zones as zoning
from core.api.deps import DB, Bearer, ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, Volume, refusals
from core.api.period import Period
from core.api.routes.assets import PurdueLevel, SavedAnnotation, ZoneName, check_writable
from core.store.controlplane import audit

router = APIRouter(tags=["zones"])
MAX_GROUP = 1000


class ZoneDevice(Out):
    """A device of a zone, as the ledger has it."""

    device: str = Field(description="the device's key (GET /api/v1/assets/{device})")
    ip: str
    hostname: str
    vendor: str
    role: str = Field(description="e.g. plc, hmi; empty when unknown")
    purdue_level: PurdueLevel | None = Field(description="the analyst's Purdue model level; null: not set")
    assigned: bool = Field(description="true: the analyst put it in this zone; false: its default zone")


class ZoneOut(Out):
    """A zone: its devices by address. Zones are listed highest Purdue level first, then by name."""

    name: str = Field(description=f"the analyst's name, or a default: 'VLAN 10', '192.168.1.0/24', "
                                  f"'fd00::/64', '{zoning.L2_ONLY}'", examples=["10.10.0.0/24"])
    purdue_levels: list[int] = Field(description="the levels its devices were given, ascending")
    devices: list[ZoneDevice]


class ZoneLink(Volume):
    """Traffic from devices of one zone to devices of another over one service."""

    source_zone: str = Field(description=f"the zone of the side that opened the connections "
                                         f"('{zoning.EXTERNAL}': hosts outside the site)")
    target_zone: str = Field(description="the zone of the side that answered")
    service: str = Field(description="the detected service, else the port's usual one, else proto/port",
                         examples=["modbus"])
    devices: list[str] = Field(description="the site's devices on either side, sorted")
    first_hour: datetime = Field(description="start of the first hour with this traffic")
    last_hour: datetime = Field(description="start of the newest hour with this traffic")


class ZoneAssignment(BaseModel):
    devices: list[str] = Field(min_length=1, max_length=MAX_GROUP, description="device keys")
    zone: ZoneName = Field(description="the zone's name; empty: back to each device's default zone")


@router.get("/api/v1/zones", responses=refusals({401: NEEDS_LOGIN, 422: "start not before end"}))
def list_zones(who: Principal, ch: ClickHouse, window: Period) -> list[ZoneOut]:
    """The zones of the devices seen in [start, end) (either open; both open: all history)."""
    start, end = window
    assets = ledger.ledger(ch, who.tenant_id, start=start, end=end)
    return [ZoneOut(name=zone.name, purdue_levels=zone.purdue_levels, devices=[
        ZoneDevice(device=a.device, ip=a.ip, hostname=a.best("hostname"), vendor=a.best("vendor"),
                   role=a.role.value if a.role else "", purdue_level=zoning.purdue_level(a),
                   assigned=bool(a.annotation.get("zone")))
        for a in zone.devices]) for zone in zoning.zones(ch, who.tenant_id, assets)]


@router.get("/api/v1/zones/links", responses=refusals({401: NEEDS_LOGIN, 422: "start not before end"}))
def zone_links(who: Principal, ch: ClickHouse, window: Period) -> list[ZoneLink]:
    """Links between different zones in [start, end) (whole hours; either open; both open: all
    history), the heaviest first."""
    start, end = window
    assets = ledger.ledger(ch, who.tenant_id, start=start, end=end)
    links = zoning.device_links(assets, zoning.pair_traffic(ch, who.tenant_id, start, end))
    zone_of = zoning.device_zones(ch, who.tenant_id, assets)
    return [ZoneLink(source_zone=link.source, target_zone=link.target, service=link.service,
                     devices=sorted(link.devices), bytes=link.bytes, packets=link.packets, flows=link.flows,
                     first_hour=link.first_hour, last_hour=link.last_hour)
            for link in zoning.zone_links(zone_of, links)]


@router.post("/api/v1/zones/assignments", responses=refusals(
    {401: NEEDS_LOGIN, 403: "a write without an API token", 404: "a device the tenant does not have"}))
def assign_zone(body: ZoneAssignment, who: Principal, bearer: Bearer, ch: ClickHouse, db: DB) -> list[SavedAnnotation]:
    """Put several devices in one zone (their other annotations stay as they are); audited. Answers
    each device's annotation as saved."""
    devices = sorted(set(body.devices))
    check_writable(ch, who, bearer, devices)
    saved = ledger.amend(ch, who.tenant_id, devices, who.email, zone=body.zone)
    audit_zoning(db, who.email, who.tenant_id, {"zone": body.zone}, devices)
    return saved


def audit_zoning(db: Session, actor: str, tenant_id: int, changes: dict, devices: list[str]) -> None:
    """One audit line for a group's new zone (and Purdue level), as the API or the dashboard set it."""
    audit(db, actor, "asset.zone", tenant_id, f"{json.dumps(changes, ensure_ascii=False)}: {', '.join(devices)}")
    db.commit()
