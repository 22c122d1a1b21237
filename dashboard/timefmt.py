"""Times for display: stored UTC → the site's zone (Asia/Tokyo by default), absolute and relative."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dashboard.i18n import Translator

DISPLAY_TZ = ZoneInfo("Asia/Tokyo")
SECONDS = "%Y-%m-%d %H:%M:%S"
MINUTES = "%Y-%m-%d %H:%M"


def as_utc(t: datetime) -> datetime:
    """Naive datetimes from the stores are UTC."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def local(t: datetime, tz: ZoneInfo = DISPLAY_TZ) -> datetime:
    try:
        return as_utc(t).astimezone(tz)
    except OverflowError:  # e.g. 9999-12-31 23:59 UTC from a broken sensor clock: shown in UTC
        return as_utc(t)


def zone_name(tz: ZoneInfo = DISPLAY_TZ) -> str:
    """The zone's current abbreviation, e.g. ``JST``."""
    return datetime.now(tz).tzname() or tz.key


def absolute(t: datetime | None, fmt: str = SECONDS, tz: ZoneInfo = DISPLAY_TZ) -> str:
    return local(t, tz).strftime(fmt) if t else ""


def duration(seconds: float, t_: Translator) -> str:
    """``42秒`` / ``3 min`` / ``5 h`` / ``2 d``: the largest whole unit."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return t_(unit, n=int(seconds // size))
    return t_("seconds", n=int(seconds))


def relative(t: datetime, now: datetime, t_: Translator) -> str:
    """``3分前`` / ``3 min ago``; future times (clock skew) read as "just now"."""
    seconds = (as_utc(now) - as_utc(t)).total_seconds()
    return t_("just_now") if seconds < 60 else t_("ago", d=duration(seconds, t_))
