"""What the sensors page (センサー) shows: each of the tenant's sensors with its lifecycle and dates,
when it was last heard from, how far behind its data is, and its latest health report (capture,
spool, data used against the monthly budget)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.analytics.sensors import sensors_overview
from core.store.clickhouse import ClickHouseStore
from dashboard.i18n import Translator
from dashboard.timefmt import absolute, duration, relative, zone_name

# Nothing received for this long (five one-minute batch intervals) and the row is highlighted.
STALE_AFTER = timedelta(minutes=5)
# Past this share of the budget the sensor goes into economy mode (sensor/ship/budget.py ECONOMY_AT);
# the usage bar turns amber there.
BUDGET_WARN_PCT = 80
LIFECYCLE = ("shipped", "activated", "opened")
# What every refusal's text starts with (the HTTP status, the core's "invalid batch: "): left out
# of the short form of the sensor's newest reason for setting a batch aside.
REFUSAL_PREFIX = re.compile(r"^\d{3}: (invalid batch: )?")


def _since(t: datetime | None, now: datetime, t_: Translator) -> str:
    return relative(t, now, t_) if t else ""


def _row(s: dict, now: datetime, t: Translator) -> dict:
    health = s["health"] or {}
    used, budget = health.get("bytes_this_month"), health.get("monthly_budget_bytes")
    oldest = health.get("spool_oldest_age_s")
    return s | {
        "status_label": t(f"lifecycle_{s['status']}") if s["status"] in LIFECYCLE else s["status"],
        "stale": s["last_seen"] is not None and now - s["last_seen"] > STALE_AFTER,
        "last_seen_rel": _since(s["last_seen"], now, t),
        "last_seen": absolute(s["last_seen"]),
        "health_rel": _since(s["health_at"], now, t),
        "upload_lag": duration(s["upload_lag_s"], t) if s["upload_lag_s"] is not None else "",
        "spool_oldest": duration(oldest, t) if oldest is not None else "",
        "budget_pct": round(100 * used / budget) if budget else None,  # no budget: no bar
        "economy": health.get("data_mode") == "economy",
        "rejection": REFUSAL_PREFIX.sub("", health.get("last_rejection") or ""),
        "health": health,
    }


def sensors_context(db: Session, ch: ClickHouseStore, tenant: int, now: datetime, t: Translator) -> dict:
    sensors = [_row(s, now, t) for s in sensors_overview(db, ch, tenant, now)]
    return {
        "sensors": sensors,
        "stale": sum(s["stale"] for s in sensors),
        "stale_after": duration(STALE_AFTER.total_seconds(), t),
        "budget_warn_pct": BUDGET_WARN_PCT,
        "tz_name": zone_name(),
    }
