"""Links into the explorer (dashboard/explorer.py) from other pages, kept apart so those pages can
import them without the explorer's router."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from dashboard.timefmt import local

INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, in the site's zone


def evidence_query(rows: list[dict]) -> str:
    """The explorer's query for exactly these records (an alert's evidence): their uids, in a window
    of whole minutes around them."""
    uids = sorted({r["uid"] for r in rows if r["uid"]})
    if not uids:
        return ""
    start = min(r["ts"] for r in rows).replace(second=0, microsecond=0)
    end = max(r["ts"] for r in rows).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return urlencode([("start", local(start).strftime(INPUT_FORMAT)), ("end", local(end).strftime(INPUT_FORMAT)),
                      *(("uid", u) for u in uids)])
