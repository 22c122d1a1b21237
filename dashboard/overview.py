"""What the overview page shows: the core's analytics for one tenant and window, ready to render."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from core.analytics import overview as stats
from core.analytics.assets import list_assets
from core.analytics.sensors import sensors_overview
from core.analytics.vulnerabilities import counts as vuln_counts
from core.analytics.window import Window, ending, resolve_window
from core.store.clickhouse import ClickHouseStore
from dashboard import figures, riskview
from dashboard.i18n import Translator
from dashboard.timefmt import MINUTES, absolute, local, relative

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_RANGE = "24h"


def window_for(ch: ClickHouseStore, tenant_id: int, range_key: str) -> Window:
    """``range_key`` long, ending where the core's default window ends (the tenant's newest data)."""
    return ending(resolve_window(ch, tenant_id).end, RANGES[range_key])


def overview_context(ch: ClickHouseStore, db: Session, tenant: int, range_key: str, t: Translator) -> dict:
    window = window_for(ch, tenant, range_key)
    step = stats.default_step(window)
    now = datetime.now(timezone.utc)
    sensors = [
        s | {"last_seen_rel": relative(s["last_seen"], now, t) if s["last_seen"] else "",
             "last_seen": absolute(s["last_seen"])}
        for s in sensors_overview(db, ch, tenant, now)
    ]
    devices = list_assets(ch, tenant)
    assets = [a | {"first_seen": absolute(a["first_seen"]), "last_seen": absolute(a["last_seen"])} for a in devices]
    found = stats.window_stats(ch, tenant, window, step)
    return {
        "tz_name": local(window.end).tzname(),
        "window": {
            "range": range_key,
            "start": absolute(window.start, MINUTES),
            "end": absolute(window.end, MINUTES),
        },
        "totals": found["totals"],
        "sensors": sensors,
        "assets": assets,
        "vulns": vuln_counts(ch, assets),
        "risk": riskview.site_context(ch, tenant, devices, t),
        "figures": {
            "traffic": figures.embed(figures.traffic_figure(found["series"], step, t)),
            "protocols": figures.embed(figures.protocol_figure(found["protocols"], t)),
            "talkers": figures.embed(figures.talkers_figure(
                found["talkers"], t,
                lambda r: "/flows?" + urlencode({"range": range_key, "device": r["ip"]}))),  # the explorer
        },
    }
