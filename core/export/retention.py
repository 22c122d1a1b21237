"""Retention (specs/rules.md "Retention"): how long a tenant's data is kept, enforced by ClickHouse TTLs.

- Raw records (flows, events, observations) carry their tenant's retention in days
  (``retention_days``, set at ingest) and expire that long after their batch's interval: the
  tenant's own ``retention_days`` (``mieruka tenants set NAME --retention-days N``, which also
  re-dates the rows already stored), else ``MIERUKA_RETENTION_RAW_DAYS``. A batch arriving later than
  that keeps its raw rows TAKE_OUT_GRACE after its arrival (``days_kept``; a re-date within it too,
  ``in_grace``): a take-out of its attempt (core.ingest: its group failed, or ``recover`` after a
  crash) negates the rows it re-reads, and rows the TTL dropped on arrival would leave their traffic
  in the rollups.
- Rollups (Summing/AggregatingMergeTree tables with a time column in their key: traffic per minute,
  pairs and ledger state per hour and day …; the ledger's all-time state by its last sighting) are
  kept ``MIERUKA_RETENTION_ROLLUP_DAYS`` for every tenant, longer than raw records, so trends and the
  ledger outlive the raw rows they were made from.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane, Tenant
from core.store.tenant_changes import EVERY_TENANT, RETENTION, changed

RAW_TABLES = ("flows", "events", "observations")
# rollups that count raw rows by batch (migration 025) and expire a week after them, not by the rollup
# retention: re-dated with them, first, so a shorter retention is in the rollup before raw rows can go by it
RAW_COUNTS = ("explore_flows_1m", "explore_events_1m")
# rollups that count raw rows per hour of their batches' interval (migration 026), with the least and the greatest
# retention of the batches summed (0, kept for good, as MAX_DAYS): re-dated first too, to the least and the
# greatest that a re-date gives a batch of the hour
HOUR_COUNTS = ("explore_flow_values_1h", "explore_event_values_1h")
LATEST_STATE = ("pair_seen_all", "asset_seen_all", "event_actions_all")  # migration 018
# how long a late batch's raw rows outlive its arrival: past any take-out of its attempt (recover
# takes out a crashed attempt 10-20 minutes after it while the core runs; a day covers a restart)
TAKE_OUT_GRACE = timedelta(days=1)
MAX_DAYS = 65535  # what a row's retention (UInt16 days) can say
# the TTL's DateTime ends 2106-02-07: an expiry past it wraps to a past date and deletes the row at once,
# so a row's retention ends by this day at the latest
LAST_DAY = datetime(2106, 2, 6, tzinfo=UTC)
BATCH = "concat(toString(sensor_id), '/', toString(batch_id))"  # a raw row's batch, as SQL
_ROLLUP_ENGINE = re.compile(r"(Summing|Aggregating)MergeTree")


class Retention:
    """Each tenant's raw retention in days, looked up in the control plane at most every RELOAD_S."""

    RELOAD_S = 10.0

    def __init__(self, controlplane: ControlPlane, default_days: int):
        self.controlplane = controlplane
        self.default_days = default_days
        self._cache: dict[int, tuple[float, int]] = {}
        self._guard = threading.Lock()

    def days(self, tenant_id: int) -> int:
        with self._guard:
            cached = self._cache.get(tenant_id)
        if cached and time.monotonic() - cached[0] < self.RELOAD_S:
            return cached[1]
        with self.controlplane.session() as db:
            tenant = db.get(Tenant, tenant_id)
            days = tenant.retention_days if tenant and tenant.retention_days is not None else self.default_days
        with self._guard:
            self._cache[tenant_id] = (time.monotonic(), days)
        return days

    def forget(self, tenant_id: int) -> None:
        with self._guard:
            self._cache.pop(tenant_id, None)


def days_kept(interval_start: datetime, days: int, now: datetime | None = None) -> int:
    """The retention a batch's raw rows are stored with (days after ``interval_start``; 0: kept): the
    tenant's ``days``, or for a batch older than that, until TAKE_OUT_GRACE after it arrived ``now``;
    never past LAST_DAY."""
    if days == 0:
        return 0
    arrived = now or datetime.now(UTC)
    late = math.ceil((arrived + TAKE_OUT_GRACE - interval_start) / timedelta(days=1))
    return min(max(days, min(late, MAX_DAYS)), (LAST_DAY.date() - interval_start.date()).days)


def redate(ch: ClickHouseStore, tenant_id: int, days: int, now: datetime | None = None) -> None:
    """Give a tenant's stored raw records a new retention (a mutation; waits for it). The rows of a late
    batch that arrived less than TAKE_OUT_GRACE before ``now`` keep what ``days_kept`` gives them from
    its arrival, so a take-out of its attempt still finds them. What the old retention expired stays
    expired (rows its TTL has not yet removed, and the rollups' hours whose raw rows may have gone: their
    counts would come back with no rows under a longer retention)."""
    now = now or datetime.now(UTC)
    graced = in_grace(ch, tenant_id, days, now)
    # what the old retention expired as of ``now``: a re-date may shorten its retention, never lengthen it
    hour_gone = f"least_days < {MAX_DAYS} AND interval_hour + toIntervalDay(least_days) <= {{now:DateTime('UTC')}}"
    least = (f"if({{d:UInt16}} = 0, {MAX_DAYS}, least({{d:UInt16}},"
             " dateDiff('day', interval_hour + toIntervalHour(1), {last:DateTime('UTC')})))")
    most = f"if({{d:UInt16}} = 0, {MAX_DAYS}, greatest({{d:UInt16}}, {{most:UInt16}}))"
    for table in HOUR_COUNTS:
        target = f"{table}_local {ch.on_cluster}" if ch.cluster else table
        # an hour's batches start before its end: none of them is bounded by LAST_DAY sooner than that
        ch.command(f"ALTER TABLE {target} UPDATE least_days = if({hour_gone}, least(least_days, {least}), {least}),"
                   f" most_days = if({hour_gone}, least(most_days, {most}), {most}) WHERE tenant_id = {{t:UInt32}}",
                   {"d": days, "t": tenant_id, "most": max(graced.values(), default=0), "last": LAST_DAY, "now": now},
                   settings={"mutations_sync": 2})
    row_gone = "retention_days > 0 AND toDateTime(interval_start) + toIntervalDay(retention_days) <= {now:DateTime('UTC')}"
    # (days_kept's bound by LAST_DAY, per row; 0: kept for good)
    kept = (f"least(transform({BATCH}, {{batches:Array(String)}}, {{kept:Array(UInt16)}}, {{d:UInt16}}),"
            " dateDiff('day', interval_start, {last:DateTime64(6, 'UTC')}))")
    for table in (*RAW_COUNTS, *RAW_TABLES):
        target = f"{table}_local {ch.on_cluster}" if ch.cluster else table
        ch.command(f"ALTER TABLE {target} UPDATE retention_days = if({row_gone},"
                   f" if({kept} > 0, least(retention_days, {kept}), retention_days), {kept}) WHERE tenant_id = {{t:UInt32}}",
                   {"d": days, "t": tenant_id, "batches": list(graced), "kept": list(graced.values()), "last": LAST_DAY,
                    "now": now},
                   settings={"mutations_sync": 2})
    changed(ch, tenant_id, RETENTION)  # rows past the new retention may be gone: its results are read again


def redate_settled(ch: ClickHouseStore, tenant_id: int, days: int, current: Callable[[], int | None],
                   wait: Callable[[], None] = lambda: time.sleep(2 * Retention.RELOAD_S)) -> None:
    """``redate`` once the tenant's new retention is in the control plane, then again after running cores
    have read it (``wait``): a batch a core stored meanwhile with the retention it still held, or a late
    batch that arrived after ``in_grace`` was read, is re-dated too — unless the tenant's retention
    (``current()``) changed again meanwhile: that change re-dates for itself."""
    redate(ch, tenant_id, days)
    wait()
    if current() == days:
        redate(ch, tenant_id, days)


def in_grace(ch: ClickHouseStore, tenant_id: int, days: int, now: datetime) -> dict[str, int]:
    """The tenant's batches (``BATCH``) that arrived (an attempt started) less than TAKE_OUT_GRACE before
    ``now`` too late for a retention of ``days``, each with the retention its rows keep."""
    if days == 0:  # kept for good
        return {}
    stored = " UNION ALL ".join(f"SELECT sensor_id, batch_id, interval_start FROM {table}"
                                " WHERE tenant_id = {t:UInt32} AND interval_start < {late:DateTime64(6, 'UTC')}"
                                for table in RAW_TABLES)
    rows = ch.query(
        f"""
        SELECT {BATCH} AS batch, any(interval_start) AS start, any(arrived) AS arrived
        FROM ({stored}) AS r
        JOIN (SELECT sensor_id, batch_id, max(at) AS arrived FROM ingest_intents
              WHERE tenant_id = {{t:UInt32}} AND state = 'started' AND at >= {{since:DateTime64(3, 'UTC')}}
              GROUP BY sensor_id, batch_id) AS a USING (sensor_id, batch_id)
        GROUP BY batch
        SETTINGS distributed_product_mode = 'local'  -- on a cluster: these tables are sharded alike
        """,
        # a batch is late only if its interval is older than the retention when its grace ends
        {"t": tenant_id, "since": now - TAKE_OUT_GRACE, "late": now + TAKE_OUT_GRACE - timedelta(days=days)})
    kept = {r["batch"]: days_kept(r["start"], days, r["arrived"]) for r in rows}
    return {batch: d for batch, d in kept.items() if d > days}


def undated_tenants(ch: ClickHouseStore) -> set[int]:
    """Tenants with raw records stored before retention existed (``retention_days`` 0)."""
    return {r["tenant_id"] for table in RAW_TABLES for r in ch.query(
        f"SELECT DISTINCT tenant_id FROM {table} WHERE retention_days = 0")}


def rollup_tables(ch: ClickHouseStore) -> dict[str, str]:
    """Rollup table → its time column (the first DateTime of its sorting key; for the ledger's
    all-time state, its last sighting: a key not seen for the retention goes as its hours do)."""
    out = {}
    for table in ch.tenant_tables():
        if not _ROLLUP_ENGINE.search(table["engine"]) or table["name"] in (*RAW_COUNTS, *HOUR_COUNTS):
            continue
        if table["name"] in LATEST_STATE:
            # its hour bucket, as in the hourly tables; a time past 2096 counts as 2096, so that
            # adding the retention stays inside DateTime's range (to 2106)
            out[table["name"]] = "least(toStartOfHour(last_seen), toDateTime(3976214400))"
        for token in re.findall(r"\w+", table["sorting_key"]):
            if table["columns"].get(token, "").startswith("DateTime"):
                out[table["name"]] = token
                break
    return out


def apply(ch: ClickHouseStore, retention: Retention, rollup_days: int) -> None:
    """Make the store keep what the settings say: every rollup's TTL, a retention for raw records
    stored before there was one, and the default retention, when it changed since the last start, for
    the rows of every tenant without one of its own."""
    for table, column in rollup_tables(ch).items():
        ttl = rollup_ttl(column, rollup_days)
        target = f"{table}_local {ch.on_cluster}" if ch.cluster else table
        shown = ch.query("SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase()"
                         " AND name = {n:String}", {"n": target.split()[0]})[0]["q"]
        if ttl.replace(" ", "") not in shown.replace(" ", ""):
            ch.command(f"ALTER TABLE {target} MODIFY TTL {ttl}", settings={"mutations_sync": 2})
            changed(ch, EVERY_TENANT, RETENTION)  # every tenant's rollups may have lost rows
    for tenant_id in undated_tenants(ch):
        if days := retention.days(tenant_id):  # a tenant whose data is kept for good has its 0 already
            redate(ch, tenant_id, days)
    applied = ch.query("SELECT argMax(default_days, applied_at) AS d, count() AS n FROM retention_default")[0]
    if applied["n"] and applied["d"] != retention.default_days:  # the setting changed since the last start
        for tenant_id in on_the_default(ch, retention.controlplane):
            redate(ch, tenant_id, retention.default_days)
    if not applied["n"] or applied["d"] != retention.default_days:
        ch.insert_rows("retention_default", [{"default_days": retention.default_days}])


def rollup_ttl(column: str, days: int) -> str:
    """A rollup row's TTL: ``days`` after its time, never past LAST_DAY (as ``days_kept`` for raw rows)."""
    last = f"toDateTime('{LAST_DAY:%Y-%m-%d %H:%M:%S}', 'UTC')"
    return f"{column} + toIntervalDay(least({int(days)}, dateDiff('day', {column}, {last})))"


def on_the_default(ch: ClickHouseStore, controlplane: ControlPlane) -> set[int]:
    """Tenants with stored batches and no retention of their own."""
    with controlplane.session() as db:
        own = set(db.scalars(select(Tenant.id).where(Tenant.retention_days.is_not(None))))
    return {r["tenant_id"] for r in ch.query("SELECT DISTINCT tenant_id FROM batches")} - own
