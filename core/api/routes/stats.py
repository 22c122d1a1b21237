"""/api/v1/stats: the data team's statistics across every tenant (core.stats), as JSON, CSV or
Parquet. For the provider's data team only; each read is audited with the purpose the caller gives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import Field

from core.api.deps import DB, ClickHouse, DataTeam, Now, SettingsDep
from core.api.models import NEEDS_LOGIN, Out, csv_response, refusals
from core.export.stats import stats_bytes
from core.stats.access import PURPOSE_MAX, record_read
from core.stats.build import COLUMNS, Stats, statistics
from core.stats.periods import KINDS, periods

router = APIRouter(prefix="/api/v1", tags=["stats"])
MAX_PERIODS = 104  # two years of weeks, eight and a half of months
REFUSED = refusals({401: NEEDS_LOGIN, 403: "not the provider's data team", 422: "no purpose given",
                    400: f"start after end, a day before 1970-01-05 or after 2105, or more than {MAX_PERIODS} periods"})
PARQUET = "application/vnd.apache.parquet"


class StatRow(Out):
    """One measure of one published cell."""

    period: str = Field(examples=["2026-01", "2026-W02"])
    table: str = Field(examples=["devices_by_vendor", "protocols", "alerts", "fleet_health"])
    group: str = Field(description="the cell's group (a transport, alert kind, model family…); empty if none")
    label: str = Field(description="from a closed vocabulary; 'other' merges the suppressed cells")
    sites: int = Field(description="tenants the cell aggregates (at least k)")
    devices: int = Field(description="devices the cell aggregates (at least m; sensors in fleet_health)")
    measure: str = Field(examples=["device_share", "flows", "site_share"])
    value: float


class StatsOut(Out):
    """The published cells of every period, and how many cells were suppressed per table and reason."""

    period: Literal[*KINDS]  # type: ignore[valid-type]
    start: dt.date
    end: dt.date
    k: int = Field(description="minimum tenants per published cell")
    m: int = Field(description="minimum devices per published cell")
    rows: list[StatRow]
    suppressed: dict[str, dict[str, int]] = Field(description="'period/table' → reason → cells suppressed")


@dataclass(frozen=True)
class Request:
    start: dt.date
    end: dt.date
    kind: str
    purpose: str


def stats_request(
    now: Now,
    purpose: Annotated[str, Query(min_length=3, max_length=PURPOSE_MAX, description="why: kept in the audit log")],
    start: dt.date | None = None,
    end: dt.date | None = None,
    period: Literal[*KINDS] = "month",  # type: ignore[valid-type]
) -> Request:
    """``start``/``end`` (days, UTC, both included; by default the six months up to today), periods."""
    end = end or now.date()
    start = start or (end.replace(day=1) - dt.timedelta(days=150)).replace(day=1)
    try:
        count = len(periods(start, end, period))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if count > MAX_PERIODS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"more than {MAX_PERIODS} periods: ask for fewer")
    purpose = " ".join(purpose.split())
    if len(purpose) < 3:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "purpose: say why, in at least 3 characters")
    return Request(start, end, period, purpose)


StatsRequest = Annotated[Request, Depends(stats_request)]


def _stats(ch, db, settings, who, asked: Request, now: dt.datetime, action: str) -> Stats:
    found = statistics(ch, db, asked.start, asked.end, asked.kind, settings.stats_k, settings.stats_m, now)
    record_read(db, who.email, action, asked.purpose, asked.start, asked.end, asked.kind)
    return found


@router.get("/stats", name="stats_json", responses=REFUSED)
def stats(who: DataTeam, asked: StatsRequest, ch: ClickHouse, db: DB, settings: SettingsDep, now: Now) -> StatsOut:
    found = _stats(ch, db, settings, who, asked, now, "stats.export")
    meta = found.metadata(asked.start, asked.end)
    return StatsOut(period=asked.kind, start=asked.start, end=asked.end, k=found.k, m=found.m,
                    rows=found.rows, suppressed=meta["suppressed"])


def _file(fmt: str):
    def download(who: DataTeam, asked: StatsRequest, ch: ClickHouse, db: DB, settings: SettingsDep,
                 now: Now) -> Response:
        found = _stats(ch, db, settings, who, asked, now, f"stats.export{fmt}")
        name = f"mieruka-stats-{asked.start}-{asked.end}-{asked.kind}{fmt}"
        return Response(stats_bytes(found.all_rows(), fmt, found.metadata(asked.start, asked.end)),
                        media_type="text/csv; charset=utf-8" if fmt == ".csv" else PARQUET,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return download


_ROWS = f"the rows ({', '.join(COLUMNS)}), then the suppression counts and the parameters"
router.get("/stats.csv", name="stats_csv", response_class=Response,
           responses=csv_response(_ROWS) | REFUSED)(_file(".csv"))
router.get("/stats.parquet", name="stats_parquet", response_class=Response, responses={200: {
    "description": _ROWS + "; the schema's metadata 'mieruka.stats' holds them as JSON",
    "content": {PARQUET: {"schema": {"type": "string", "format": "binary"}}}}} | REFUSED)(_file(".parquet"))
