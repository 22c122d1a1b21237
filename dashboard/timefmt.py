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
    return as_utc(t).astimezone(tz)


def zone_name(tz: ZoneInfo = DISPLAY_TZ) -> str:
    """The zone's current abbreviation, e.g. ``JST``."""
    return datetime.now(tz).tzname() or tz.key


def absolute(t: datetime | None, fmt: str = SECONDS, tz: ZoneInfo = DISPLAY_TZ) -> str:
    return local(t, tz).strftime(fmt) if t else ""


def relative(t: datetime, now: datetime, t_: Translator) -> str:
    """``3分前`` / ``3 min ago``; future times (clock skew) read as "just now"."""
    seconds = (as_utc(now) - as_utc(t)).total_seconds()
    if seconds < 60:
        return t_("just_now")
    if seconds < 3600:
        return t_("minutes_ago", n=int(seconds // 60))
    if seconds < 86400:
        return t_("hours_ago", n=int(seconds // 3600))
    return t_("days_ago", n=int(seconds // 86400))
