"""The time window of a query; by default the 24 h ending at the tenant's newest data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.store.clickhouse import ClickHouseStore

DEFAULT_SPAN = timedelta(hours=24)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    @property
    def params(self) -> dict:
        return {"start": self.start, "end": self.end}


def utc(t: datetime) -> datetime:
    """Aware UTC; naive input is taken to be UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def latest_data(ch: ClickHouseStore, tenant_id: int) -> datetime | None:
    row = ch.query(
        "SELECT max(interval_end) AS t, count() AS n FROM batches WHERE tenant_id = {tenant:UInt32}",
        {"tenant": tenant_id},
    )[0]
    return utc(row["t"]) if row["n"] else None


def resolve_window(
    ch: ClickHouseStore,
    tenant_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """Fill in a missing bound from the other (24 h apart), or both from the newest data."""
    if start is None and end is None:
        latest = latest_data(ch, tenant_id) or datetime.now(UTC)
        # End at the next whole minute, so the newest minute bucket is inside the window.
        end = latest.replace(second=0, microsecond=0) + MINUTE
    if end is None:
        end = utc(start) + DEFAULT_SPAN
    if start is None:
        start = utc(end) - DEFAULT_SPAN
    window = Window(utc(start), utc(end))
    if window.start >= window.end:
        raise ValueError("start must be before end")
    return window
