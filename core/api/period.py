"""Time periods named in a query (``start``/``end``, or two of them for a comparison): ISO 8601,
UTC when no offset is given, clamped to what the stores hold; an open bound is None. A period
whose start is not before its end is a 422 naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from core.analytics.window import clamp

Bound = Annotated[datetime | None, Query(description="ISO 8601; UTC when no offset is given")]


def checked(start: datetime | None, end: datetime | None,
            name: str = "period") -> tuple[datetime | None, datetime | None]:
    """(start, end) clamped; refuses one whose start is not before its end."""
    start, end = start and clamp(start), end and clamp(end)
    if start and end and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: start must be before end")
    return start, end


def period(start: Bound = None, end: Bound = None) -> tuple[datetime | None, datetime | None]:
    """``start`` (inclusive) and ``end`` (exclusive); either may be left open."""
    return checked(start, end)


Period = Annotated[tuple[datetime | None, datetime | None], Depends(period)]
