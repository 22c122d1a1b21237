"""The report's period: [start, end) in UTC, and the period of equal length just before it.

A bare date names a day in Japan (the UI's zone): ``start`` from its first moment, ``end`` through
its last, so ``--start 2026-11-01 --end 2026-11-30`` is the whole of November. A date and time is
taken as ISO 8601, UTC when it has no offset (as the API takes times).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.analytics.window import clamp

DISPLAY_TZ = ZoneInfo("Asia/Tokyo")
MAX_SPAN = timedelta(days=366 * 3)


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    def previous(self) -> Period:
        """The period of the same length that ends where this one starts."""
        return Period(self.start - (self.end - self.start), self.start)

    def local(self) -> tuple[datetime, datetime]:
        """Start and (inclusive) end as Japan times, for display."""
        return self.start.astimezone(DISPLAY_TZ), (self.end - timedelta(microseconds=1)).astimezone(DISPLAY_TZ)


def parse_bound(text: str, is_end: bool) -> datetime:
    """A date (a day in Japan) or an ISO 8601 date and time; ValueError naming what is wrong."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None and len(text) == 10:
        first = datetime.combine(day, time(), DISPLAY_TZ)
        return clamp(first + timedelta(days=1) if is_end else first)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date and time") from None
    return clamp(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment)


def period(start: str, end: str) -> Period:
    """The period named by two bounds; ValueError when it is empty, reversed or too long."""
    found = Period(parse_bound(start, False), parse_bound(end, True))
    if found.start >= found.end:
        raise ValueError("the start must be before the end")
    if found.end - found.start > MAX_SPAN:
        raise ValueError("a report covers at most three years")
    return found
