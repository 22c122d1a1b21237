"""The periods statistics are cut into: calendar months or ISO weeks, in UTC, of whole days."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

KINDS = ("month", "week")
FIRST_DAY, LAST_DAY = date(1970, 1, 5), date(2105, 12, 31)  # what the rollups' DateTime holds (whole weeks)


@dataclass(frozen=True)
class Period:
    name: str  # "2026-01" or "2026-W02"
    start: datetime  # inclusive, UTC midnight
    end: datetime  # exclusive


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_of(day: date, kind: str) -> Period:
    """The month or ISO week holding ``day``."""
    if kind == "month":
        first = day.replace(day=1)
        return Period(f"{first:%Y-%m}", _midnight(first), _midnight(_next_month(first)))
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return Period(f"{year}-W{week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))
    raise ValueError(f"period must be one of {', '.join(KINDS)}, not {kind!r}")


def so_far(period: Period, now: datetime) -> Period | None:
    """The period's whole days by ``now``: all of it once it is over, its days before today while it
    runs, None on its first day (a day's data is still arriving)."""
    midnight = _midnight(now.astimezone(UTC).date())
    if period.end <= midnight:
        return period
    return Period(period.name, period.start, midnight) if period.start < midnight else None


def periods(start: date, end: date, kind: str = "month") -> list[Period]:
    """Every whole period that holds a day from ``start`` to ``end`` (both included)."""
    if start > end:
        raise ValueError("start must not be after end")
    if start < FIRST_DAY or end > LAST_DAY:
        raise ValueError(f"days must lie from {FIRST_DAY} to {LAST_DAY}")
    return list(_walk(start, end, kind))


def _walk(start: date, end: date, kind: str) -> Iterator[Period]:
    current = period_of(start, kind)
    while current.start.date() <= end:
        yield current
        current = period_of(current.end.date(), kind)
