"""A window's rows of the ledger's state tables, read at the coarsest grain that answers it exactly.

The state tables come in three grains (migrations 010 and 018): per hour (``*_1h``), per day (``*_1d``)
and for all time (``*_all``), each a bucket of the sightings (or uses) that start in it. A window open
on both sides reads ``*_all``: one row per key. Any other window reads its whole days — the days that
start at or after its start and end by its end, every sighting in them inside the window — from
``*_1d``, and only the hours at its edges from ``*_1h`` (with the overlap test of the hourly buckets).
A month is then ~30 rows per key instead of ~720, and the same minima, maxima and sums come out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.analytics.window import LATEST

DAY = timedelta(days=1)

# A window's rows in the hourly state tables: sightings that overlap [start, end). A bucket holds
# sightings that start in its hour; a flow record or folded event lasts one batch interval, so one
# earlier bucket is enough to find those that reach into the window. An open bound takes everything
# on its side, data dated before 1970 or after 2106 included.
OVERLAPS = """tenant_id = {tenant:UInt32}
    AND ({open_start:Bool} OR (hour >= {first_hour:DateTime('UTC')} AND last_seen >= {start:DateTime64(6, 'UTC')}))
    AND ({open_end:Bool} OR (hour < {end:DateTime64(6, 'UTC')} AND first_seen < {end:DateTime64(6, 'UTC')}))"""


def seen(start: str, end: str) -> str:
    """First and last sighting, cut to the window from ``start`` to ``end`` (SQL expressions)."""
    return (f"least(greatest(min(first_seen), {start}), {end}) AS first_seen,"
            f" greatest(least(max(last_seen), {end}), {start}) AS last_seen")


SEEN = seen("{start:DateTime64(6, 'UTC')}", "{end:DateTime64(6, 'UTC')}")
# The same cut to each window of ``each_period`` (grouped by ``period``).
SEEN_BY_PERIOD = seen("{starts:Array(DateTime64(6, 'UTC'))}[period + 1]",
                      "{ends:Array(DateTime64(6, 'UTC'))}[period + 1]")
_PARAMETER = re.compile(r"\{(\w+):")
WHOLE_DAYS = "day >= {day_lo:DateTime('UTC')} AND day < {day_hi:DateTime('UTC')}"
EDGE_HOURS = "(hour < {day_lo:DateTime('UTC')} OR hour >= {day_hi:DateTime('UTC')})"


def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def whole_days(start: datetime, end: datetime) -> dict:
    """The parameters ``day_lo``/``day_hi``: [day_lo, day_hi) are the whole days inside [start, end)
    (empty when there are none: day_lo = day_hi)."""
    lo = _day(start) if start == _day(start) else min(_day(start) + DAY, LATEST)
    return {"day_lo": lo, "day_hi": max(lo, _day(end))}


def state_rows(table: str, columns: str, params: dict, where: str = "1") -> str:
    """A subquery of ``columns`` from ``table``'s state (``pair_seen``, ``asset_seen``,
    ``event_actions``) for the window in ``params`` (core.analytics.assets.window_params, which adds
    ``whole_days``); ``where`` filters further."""
    if params["open_start"] and params["open_end"]:
        return f"(SELECT {columns} FROM {table}_all WHERE tenant_id = {{tenant:UInt32}} AND {where})"
    return (f"(SELECT {columns} FROM {table}_1d WHERE tenant_id = {{tenant:UInt32}} AND {WHOLE_DAYS} AND {where}"
            f" UNION ALL SELECT {columns} FROM {table}_1h WHERE {OVERLAPS} AND {EDGE_HOURS} AND {where})")


def pair_volume_rows(columns: str, hourly: str | None = None, where: str = "1") -> str:
    """A subquery of ``columns`` from the pairs rollup over the hours [hour of {start}, {end}): whole
    days from ``pairs_1d``, the rest from ``pairs_1h`` (``hourly``: its own spelling of the columns,
    e.g. ``hour AS last_hour``; parameters as for ``state_rows``)."""
    return (f"(SELECT {columns} FROM pairs_1d WHERE tenant_id = {{tenant:UInt32}} AND {WHOLE_DAYS} AND {where}"
            f" UNION ALL SELECT {hourly or columns} FROM pairs_1h WHERE tenant_id = {{tenant:UInt32}} AND {where}"
            " AND hour >= toStartOfHour({start:DateTime64(6, 'UTC')}) AND hour < {end:DateTime64(6, 'UTC')}"
            f" AND {EDGE_HOURS})")


def each_period(parts: list[tuple[str, dict]]) -> tuple[str, dict]:
    """One subquery of several windows' subqueries (``state_rows``/``pair_volume_rows`` with each
    window's parameters), every row tagged with ``period``, the index of its window; and the parameters
    it takes: each window's own renamed ``p<index>_…`` (the tenant shared), and ``starts``/``ends``,
    the windows' bounds by ``period + 1``. One query then answers for every period."""
    subqueries, params = [], {"starts": [p["start"] for _, p in parts], "ends": [p["end"] for _, p in parts]}
    for index, (sql, window) in enumerate(parts):
        own = set(window) - {"tenant"}
        prefix = f"p{index}_"
        subqueries.append(_PARAMETER.sub(lambda m: "{" + (prefix * (m[1] in own)) + m[1] + ":",
                                         f"SELECT {index} AS period, * FROM {sql}"))
        params |= {(prefix * (k in own)) + k: v for k, v in window.items()}
    return "(" + " UNION ALL ".join(subqueries) + ")", params
