"""The time window of a query; by default the 24 h ending at the tenant's newest data.

Every bound is clamped into what the stores hold (the rollups' ClickHouse ``DateTime``:
1970-01-01 to 2106-02-07), so any year a client or a sensor names is answered, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.store.clickhouse import ClickHouseStore

DEFAULT_SPAN = timedelta(hours=24)
MINUTE = timedelta(minutes=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2106, 1, 1, tzinfo=UTC)
# Data stamped later than the core's clock plus this is a sensor's error, not the newest data.
CLOCK_SKEW = timedelta(days=1)


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


def clamp(t: datetime) -> datetime:
    """``t`` in UTC, moved into [EARLIEST, LATEST]."""
    try:
        t = utc(t)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 has no UTC datetime
        return EARLIEST if t.year < EARLIEST.year else LATEST
    return min(max(t, EARLIEST), LATEST)


def latest_data(ch: ClickHouseStore, tenant_id: int, now: datetime) -> datetime | None:
    """End of the tenant's newest batch, ignoring batches dated after ``now`` + CLOCK_SKEW."""
    row = ch.query(
        "SELECT max(interval_end) AS t, count() AS n FROM batches"
        " WHERE tenant_id = {tenant:UInt32} AND interval_end <= {horizon:DateTime64(6, 'UTC')}",
        {"tenant": tenant_id, "horizon": now + CLOCK_SKEW},
    )[0]
    return clamp(row["t"]) if row["n"] else None


def resolve_window(
    ch: ClickHouseStore,
    tenant_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """Fill in a missing bound from the other (24 h apart), or both from the newest data."""
    if start is None and end is None:
        now = datetime.now(UTC)
        latest = latest_data(ch, tenant_id, now) or now
        # End at the next whole minute, so the newest minute bucket is inside the window.
        end = min(latest.replace(second=0, microsecond=0) + MINUTE, LATEST)
    if start is None:
        start = clamp(end) - DEFAULT_SPAN
    if end is None:
        end = clamp(start) + DEFAULT_SPAN
    window = Window(clamp(start), clamp(end))
    if window.start >= window.end:
        raise ValueError("start must be before end")
    return window


def ending(end: datetime, span: timedelta) -> Window:
    """The ``span`` up to ``end``, cut at EARLIEST."""
    return Window(max(end - span, EARLIEST), end)
