"""The sensor's health: what `mieruka-sensor status` prints and the core stores for analysts.

Two small JSON files in the spool directory feed it, each written by one party:

- ``capture.json``: the newest batch the capture produced (packet rate, kernel drops, parse errors),
  and the frames of link types the sensor cannot decode since it started, per link type;
- ``uplink.json``: the last delivered upload and the bytes sent this month, counted in Japan time
  (LTE data plans reset at the start of a Japanese calendar month).

The data mode (full, or economy near the monthly budget: sensor/ship/budget.py) follows from the latter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sensor import wire
from sensor.ship import budget
from sensor.ship.spool import Spool, write_atomic

JST = timezone(timedelta(hours=9))  # Japan has no daylight saving time
CAPTURE = "capture.json"
UPLINK = "uplink.json"
MAX_LINK_TYPES = 64  # the core takes at most this many link types per report


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _month(t: datetime) -> str:
    return t.astimezone(JST).strftime("%Y-%m")


def record_batch(directory: Path, batch: wire.Batch, unknown_link_types: Mapping[int, int] | None = None) -> None:
    """Note the capture counters of a batch just produced (and the frames of unknown link types)."""
    seconds = (batch.interval_end - batch.interval_start).total_seconds()
    packets = batch.counters.get("packets", 0)
    write_atomic(directory / CAPTURE, json.dumps({
        "capture_at": batch.interval_end.isoformat(),
        "capture_pps": packets / seconds if seconds > 0 else None,
        "kernel_drops": batch.counters.get("kernel_drops", 0),
        "parse_errors": batch.counters.get("parse_errors", 0),
        "evicted_flows": batch.counters.get("evicted_flows", 0),
        "dropped_events": batch.counters.get("dropped_events", 0),
        "unknown_link_types": {str(lt): n for lt, n in sorted((unknown_link_types or {}).items())},
    }).encode())


def unknown_link_types(directory: Path) -> dict[str, int]:
    """Frames of link types the capture could not decode, per link type, in the newest interval."""
    return _read(directory / CAPTURE).get("unknown_link_types", {})


def record_upload(directory: Path, nbytes: int, delivered: bool, error: str = "",
                  now: datetime | None = None) -> None:
    """Count ``nbytes`` sent over the link this month; note the time if the core took the batch,
    else why not (``error``, until a batch is delivered)."""
    now = now or datetime.now(timezone.utc)
    state = _read(directory / UPLINK)
    if state.get("month") != _month(now):
        state = {"month": _month(now), "bytes": 0, "last_upload": state.get("last_upload")}
    state["bytes"] += nbytes
    if delivered:
        state["last_upload"] = now.isoformat()
    state["last_error"] = "" if delivered else error[:500]
    write_atomic(directory / UPLINK, json.dumps(state).encode())


def bytes_this_month(directory: Path, now: datetime | None = None) -> int:
    usage = _read(directory / UPLINK)
    return usage.get("bytes", 0) if usage.get("month") == _month(now or datetime.now(timezone.utc)) else 0


def snapshot(spool: Spool, budget_bytes: int, now: datetime | None = None) -> dict:
    """The health report (the fields of the core's POST /api/v1/sensor/health)."""
    now = now or datetime.now(timezone.utc)
    capture = _read(spool.dir / CAPTURE)
    usage = _read(spool.dir / UPLINK)
    used = bytes_this_month(spool.dir, now)
    queued = spool.stats()
    oldest = queued["oldest_mtime"]
    return {
        "capture_pps": capture.get("capture_pps"),
        "kernel_drops": capture.get("kernel_drops"),
        "parse_errors": capture.get("parse_errors"),
        "evicted_flows": capture.get("evicted_flows"),
        "dropped_events": capture.get("dropped_events"),
        "unknown_link_types": dict(list(capture.get("unknown_link_types", {}).items())[:MAX_LINK_TYPES]),
        "capture_at": capture.get("capture_at"),
        "spool_depth": queued["depth"],
        "spool_bytes": queued["bytes"],
        "spool_oldest_age_s": max(0.0, now.timestamp() - oldest) if oldest else None,
        "spool_evicted": queued["evicted"],
        "spool_write_failures": queued["write_failures"],
        "spool_rejected": queued["rejected"],  # set aside: the core refused them for good
        "last_rejection": queued["last_rejection"][:500],
        "last_upload": usage.get("last_upload"),
        "last_error": usage.get("last_error", ""),
        "bytes_this_month": used,
        "monthly_budget_bytes": budget_bytes,
        "data_mode": budget.mode(used, budget_bytes),
    }
