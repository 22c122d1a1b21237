"""Site risk: today's summary of the device scores, its trend by day and the riskiest devices
(docs/risk.md explains the score)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field

from core.analytics import assets as ledger
from core.analytics import risk
from core.api.deps import ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, refusals

router = APIRouter(tags=["risk"])

Level = Literal[*risk.LEVELS]  # type: ignore[valid-type]
FactorName = Literal[*risk.FACTORS]  # type: ignore[valid-type]


class RiskFactor(Out):
    """One part of a device's score."""

    name: FactorName
    points: int = Field(description="what it adds (role: what the multiplication added; may be negative)")
    detail: str = Field(description="what it rests on, in English, e.g. the alerts by severity or the services",
                        examples=["critical 1, high 2"])
    parts: list[tuple[str, str]] = Field(
        description="the detail as (term, value) pairs: a term is a severity, role, protocol, importance_… "
                    "or one of docs/risk.md's words (internet_inbound, remote_access, …); the value a count, "
                    "name or weight",
        examples=[[["critical", "1"], ["high", "2"]]])


class LevelCounts(Out):
    score: int = Field(ge=0, le=100, description="the mean of the highest device scores (docs/risk.md)")
    max_score: int = Field(ge=0, le=100)
    mean_score: float = Field(description="mean score of every device")
    devices: int
    high: int = Field(description="devices whose score is high")
    medium: int
    low: int


class RiskDay(LevelCounts):
    """The site on one day (UTC): the last summary computed that day."""

    day: date


class RiskyDevice(Out):
    device: str = Field(description="the device's key: its MAC on the local segment, else its IP")
    ip: str
    role: str
    score: int = Field(ge=1, le=100)
    level: Level


class SiteRisk(LevelCounts):
    """Today's site risk with its trend (a snapshot a day, kept when the summary is computed; days
    nobody asked are missing) and the ten riskiest devices."""

    level: Level
    trend: list[RiskDay] = Field(description="by day, oldest first, today last")
    top: list[RiskyDevice] = Field(description="highest score first; devices scoring 0 left out")


@router.get("/api/v1/risk", responses=refusals({401: NEEDS_LOGIN}))
def site_risk(who: Principal, ch: ClickHouse,
              days: int = Query(risk.TREND_DAYS, ge=1, le=366, description="trend length in days")) -> SiteRisk:
    """Today's site score (the mean of the highest device scores), counts by level, the trend and
    the riskiest devices; computing it keeps today's snapshot."""
    return risk.site_risk(ch, who.tenant_id, ledger.list_assets(ch, who.tenant_id), days=days)
