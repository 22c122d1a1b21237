"""Batch ingest: validate → dedupe → insert, exactly once whatever fails or crashes.

Batches that arrive while others are being stored wait and are stored together, as one group
(core/ingest/group.py): one insert per table for all of them, so the fixed cost of an insert and of
the views it feeds is paid per group, not per batch. A request only parses its batch (``wire.parse``);
the group's values are checked and its derived columns filled in together (``wire.complete``: a bad
batch is found and refused alone). A group is stored as: its batches' attempts
logged in ``ingest_intents`` ('started', generation g), then events, observations, flows, then their
``batches`` rows, the commit markers the dedupe check reads. Each insert carries a deduplication
token: a batch stored alone has *tenant:sensor:batch:g:table*, the same for every attempt of
generation g — in any process; a group has a digest of its batches' tokens. So:

- if the core dies anywhere before the marker, the sensor (which got no answer) resends the batch:
  the next attempt has the same generation, skips the tables that hold the batch already (each
  insert is one block, stored whole or not at all; checked by query, so however long ago) and
  inserts the rest, whatever group it is in now; if it died taking an attempt out (its intent
  'removing' logged, not yet 'removed': rows re-inserted negated, or deleted, which an insert under
  the attempt's tokens would not bring back), the resend finishes the take-out and is stored as the
  next generation;
- two workers storing the same batch at once store it once when each stores it alone (the same
  token). With several workers (a ClickHouse server), a batch whose group is still being stored when
  the sensor gives up waiting (30 s) and resends it to another worker could be stored twice; groups
  are capped at GROUP_ROWS rows so that one is stored in a few seconds. An embedded store has one
  process, whose per-sensor lock keeps a batch out of two groups;
- if a step fails while the core runs, the rows of the batch are taken out before the error
  propagates (flows and events first re-inserted with ``sign`` negated, which retracts them from the
  rollup views that sum ``sign``, then every table's rows of the batch deleted) and the attempt is logged
  'removed': the resend is generation g + 1, with new tokens.

``recover`` (every 10 minutes, from 10 minutes after the core starts, so sensors have resent what
they had sent) takes out the rows of attempts older than RECOVER_AFTER that neither committed nor
were taken out: a crash whose batch no sensor resent. The asset ledger keeps what it saw:
min/max/argMax are unchanged when the sensor resends the batch.

With a ``Detector``, detection examines the group's batches in the order they came while their rows
are being stored (``Detector.examine``: the same alerts as one by one; Python beside the inserts,
which release the GIL) and writes what it found once the rows are stored, before the commit markers
(one insert per table for the group), inside each sensor's lock (so each sensor's batches in order).
If examining fails, that is logged and the batches are stored without alerts; if writing what it
found fails, the group fails like any insert: its rows are taken out and each batch is stored again
on its own (a failed write costs at most a resend of the batch it belongs to, never the group's
alerts or baseline); a group that fails to store discards what detection found. If the core stops before the marker, the sensor resends the batch, which is stored and
detected again; detection is idempotent per batch (core/detect/engine.py), so nothing is raised or
counted twice. A batch with its marker is a duplicate and is not detected again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.exceptions import OperationalError

from core.detect.engine import Detection, Detector
from core.export.retention import days_kept
from core.ingest.budget import ByteBudget
from core.ingest.group import GroupCommit
from core.store.clickhouse import ClickHouseStore
from sensor import wire

log = logging.getLogger(__name__)

INSERT_ORDER = ("events", "observations", "flows")  # flows last: it feeds the rollups
INSERT_ATTEMPTS = 3
# the views a raw table feeds are filled in parallel: a group's inserts take a quarter less time
# (bench_ingest; the same rows end up in the same tables)
INSERT_SETTINGS = {"parallel_view_processing": 1}
RETRACTABLE = ("events", "flows")  # their views sum ``sign``: re-inserted negated, a batch is given back
RECOVER_AFTER = timedelta(minutes=10)  # an attempt this old without its marker is not in flight
# Steps at which ``crash_at`` makes the process exit (the crash tests): start, before:/after: a table.
STEPS = ("start", *(f"{when}:{table}" for table in (*INSERT_ORDER, "batches") for when in ("before", "after")))
_KEY = "tenant_id = {tenant:UInt32} AND sensor_id = {sensor:UInt32} AND batch_id = {batch:UUID}"

# Decodes at once in this process: each may hold a batch of up to wire.MAX_DECOMPRESSED bytes
# decompressed plus its tables, so concurrent requests must not multiply that.
DECODE_SLOTS = 2
# What parsed batches waiting for their group may hold (their bodies and tables), beside the
# DECODE_SLOTS being parsed: the bound on an upload's memory, so the upload threads (the route's) can
# be many and a group hold every batch in flight.
WAITING_BYTES = 512 * 1024 * 1024
# Batches waiting while a group is stored go in the next group, up to this many rows (by default;
# MIERUKA_INGEST_GROUP_ROWS): one insert per table for all of them.
GROUP_ROWS = 500_000
# While the store is busy (the last group held several batches and ended less than GROUP_QUIET s ago), a
# group's leader waits for more uploads while they keep coming — until none came for GROUP_QUIET s, for
# GROUP_LINGER s in all, or uploads wait for the WAITING_BYTES the queued ones hold —
# so the uploads answered by the last group that send their next batch join this one: a group's
# ClickHouse work (five inserts, their ~20 parts) is paid per group, not per batch.
GROUP_LINGER = 1.0
GROUP_QUIET = 0.25


def time_bounds(now: datetime, max_age_days: float, max_future_s: float) -> wire.TimeBounds:
    return wire.TimeBounds(now - timedelta(days=max_age_days), now + timedelta(seconds=max_future_s))


@dataclass(frozen=True)
class IngestResult:
    status: str  # "stored" or "duplicate"
    batch_id: str
    rows: dict[str, int]
    interval_end: datetime


class Ingestor:
    """Stores decoded batches for authenticated sensors into one ClickHouse store."""

    def __init__(self, store: ClickHouseStore, detector: Detector | None = None,
                 retention: Callable[[int], int] = lambda tenant_id: 0, crash_at: str = "",
                 group_rows: int = GROUP_ROWS, waiting_bytes: int = WAITING_BYTES,
                 linger: float = GROUP_LINGER, quiet: float = GROUP_QUIET):
        self.store = store
        self.detector = detector
        self.retention = retention  # tenant → days its raw records are kept (0: kept)
        if crash_at and crash_at not in STEPS:
            raise ValueError(f"crash_at must be one of {', '.join(STEPS)}")
        self.crash_at = crash_at  # tests only: the process exits at this step, as a crash would
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)
        self.waiting = ByteBudget(waiting_bytes)
        # one group's detection at a time, beside the leader that stores the group's rows
        self._examiner = ThreadPoolExecutor(1, thread_name_prefix="detect") if detector else None
        self._group = GroupCommit(self._store, lambda p: max(1, sum(p.rows.values())), group_rows, linger, quiet,
                                  lambda: not self.waiting.blocked)  # (queued uploads hold the budget)
        self.observe_group: Callable[[int], None] | None = None  # batches in each group stored: metrics
        wire.zstd_prefix()  # built now, not by the first upload (pyarrow imports pandas on first use)

    def ingest(self, tenant_id: int, sensor_id: int, body: bytes,
               bounds: wire.TimeBounds | None = None) -> IngestResult:
        """Decode (raises wire.WireError) and store one batch body; idempotent per batch_id.
        ``bounds``: the times the batch may speak of."""
        with ExitStack() as waiting:
            with self._decode_slots:  # the budget is taken before the slot is given back
                parsed = wire.parse(body, bounds=bounds)
                waiting.enter_context(self.waiting.held(len(body) + _size(parsed)))
            pending = _Pending(tenant_id, sensor_id, parsed)
            # One batch at a time per sensor in this process, so check-then-insert cannot race, and a
            # group holds at most one batch of a sensor (detection sees each sensor's batches in order).
            with self._lock(tenant_id, sensor_id):
                self._group.submit(pending)
        if pending.error:
            raise pending.error
        return IngestResult(pending.status, parsed.batch_id, pending.rows, parsed.interval_end)

    def _store(self, group: list[_Pending]) -> None:
        """Store a group of batches (of different sensors): one insert per table for all of them."""
        group = _completed(group)
        if not group:
            return
        states = self._states([p.key for p in group])
        live = []
        for p in group:
            committed, p.generation, retried, halfway = states[_key_tuple(p.key)]
            if committed:
                p.status = "duplicate"
                continue
            # a resend after a crash: each table's insert is one block, stored whole or not at all
            stored = self._stored_tables(p.key, p.batch.interval_start) if retried and not halfway else set()
            if halfway or stored is None:  # the crash was in a take-out of the attempt: what it deleted would be
                self._take_out([(p.key, p.generation)])  # dropped as a duplicate of this generation: finish it,
                p.generation, stored = p.generation + 1, set()  # store anew
            p.stored = stored
            live.append(p)
        if not live:
            return
        if self.observe_group:
            self.observe_group(len(live))
        self._step("start")
        self._log_intents([(p.key, p.generation) for p in live], "started")
        # detection examines the batches while their rows are stored (the inserts let go of the
        # GIL) and writes its alerts once they are
        examining = self._examiner.submit(self._examine, live) if self._examiner else None
        try:
            for name in INSERT_ORDER:
                members = [p for p in live if p.rows[name] and name not in p.stored]
                if members:
                    self._step(f"before:{name}")
                    keyed = [(p.batch, p.tenant_id, p.sensor_id,
                              days_kept(p.batch.interval_start, self.retention(p.tenant_id))) for p in members]
                    self._insert(name, with_keys(name, keyed), _group_token(members))
                    self._step(f"after:{name}")
            if examining:
                self._write_detection(examining, live)
            self._step("before:batches")
            self._insert("batches", batch_rows([(p.batch, p.tenant_id, p.sensor_id) for p in live]),
                         _group_token(live))
            self._step("after:batches")
        except Exception:
            if examining:
                self._discard_detection(examining)
            try:
                self._take_out([(p.key, p.generation) for p in live])
            except Exception:  # the original error matters more; log this one
                log.exception("could not remove the partial batches %s", ", ".join(p.batch.batch_id for p in live))
            raise
        for p in live:
            p.status = "stored"

    def close(self) -> None:
        """Stop detection's thread (the app shuts down)."""
        if self._examiner:
            self._examiner.shutdown()

    def recover(self, older_than: timedelta = RECOVER_AFTER) -> int:
        """Take out the rows of attempts older than ``older_than`` that neither committed nor were
        taken out (the core died and the batch was not resent since); how many."""
        stale = self.store.query(
            """
            SELECT tenant_id, sensor_id, toString(batch_id) AS batch_id, generation
            FROM ingest_intents
            WHERE state = 'started' AND at < now64(3) - toIntervalSecond({age:UInt32})
              AND (tenant_id, sensor_id, batch_id) NOT IN (SELECT tenant_id, sensor_id, batch_id FROM batches)
              AND (tenant_id, sensor_id, batch_id, generation) NOT IN
                  (SELECT tenant_id, sensor_id, batch_id, generation FROM ingest_intents WHERE state = 'removed')
            SETTINGS distributed_product_mode = 'local'  -- on a cluster: these tables are sharded alike
            """, {"age": int(older_than.total_seconds())})
        for row in stale:
            key = _key(row["tenant_id"], row["sensor_id"], row["batch_id"])
            with self._lock(row["tenant_id"], row["sensor_id"]):
                committed, generation, _, _ = self._state(key)
                if not committed and generation == row["generation"]:
                    self._take_out([(key, generation)])
                    log.warning("took out partial batch %s of sensor %s", row["batch_id"], row["sensor_id"])
        return len(stale)

    def _examine(self, group: list[_Pending]) -> Detection:
        return self.detector.examine([(p.tenant_id, p.sensor_id, p.batch) for p in group])

    def _write_detection(self, examining: Future[Detection], group: list[_Pending]) -> None:
        """Write what detection found; if that fails the group fails (its batches are stored again,
        each on its own, and detected again): nothing it learned or raised is lost for being grouped."""
        try:
            found = examining.result()
        except Exception:  # examine itself failed: the batches are stored without their alerts
            log.exception("detection failed on batches %s", ", ".join(p.batch.batch_id for p in group))
            return
        self.detector.write(found)

    def _discard_detection(self, examining: Future[Detection]) -> None:
        """The group is not stored: what detection took into its caches goes."""
        try:
            self.detector.discard(examining.result())
        except Exception:  # examine failed: it kept nothing
            pass

    def has_batch(self, tenant_id: int, sensor_id: int, batch_id: str) -> bool:
        """Whether this sensor's batch ``batch_id`` is stored (its commit marker is written)."""
        return self._state(_key(tenant_id, sensor_id, batch_id))[0]

    def _state(self, key: dict) -> tuple[bool, int, bool, bool]:
        return self._states([key])[_key_tuple(key)]

    def _states(self, keys: list[dict]) -> dict[tuple, tuple[bool, int, bool, bool]]:
        """Per batch key: (committed, the generation of the next attempt, whether that generation
        was attempted before: the core died during it, and whether a take-out of it had begun)."""
        where = ("tenant_id IN {tenants:Array(UInt32)} AND sensor_id IN {sensors:Array(UInt32)} "
                 "AND batch_id IN {batches:Array(UUID)}")
        rows = self.store.query(
            "SELECT tenant_id, sensor_id, toString(batch_id) AS batch_id, sum(committed) AS committed, "
            "sum(removed) AS removed, sum(started) AS started, groupArrayIf(generation, removing) AS removing FROM ("
            f" SELECT tenant_id, sensor_id, batch_id, 1 AS committed, 0 AS removed, 0 AS started, 0 AS removing,"
            f" toUInt32(0) AS generation FROM batches WHERE {where}"
            " UNION ALL SELECT tenant_id, sensor_id, batch_id, 0, state = 'removed', state = 'started',"
            f" state = 'removing', generation FROM ingest_intents WHERE {where}) GROUP BY tenant_id, sensor_id, batch_id",
            {"tenants": sorted({k["tenant"] for k in keys}), "sensors": sorted({k["sensor"] for k in keys}),
             "batches": sorted({k["batch"] for k in keys})})
        found = {(r["tenant_id"], r["sensor_id"], r["batch_id"]): r for r in rows}
        out = {}
        for key in keys:
            r = found.get(_key_tuple(key), {"committed": 0, "removed": 0, "started": 0, "removing": []})
            out[_key_tuple(key)] = (r["committed"] > 0, r["removed"], r["started"] > r["removed"],
                                    r["removed"] in r["removing"])
        return out

    def _stored_tables(self, key: dict, interval_start: datetime) -> set[str] | None:
        """The raw tables that hold the batch's rows (whatever the deduplication window remembers); None when
        a take-out had begun (rows re-inserted negated, not yet deleted): what they hold is cancelled, and
        inserting it again in the same generation would be dropped as a duplicate."""
        where = f"{_KEY} AND interval_start = {{start:DateTime64(6)}}"
        held = [f"(SELECT count() FROM {t} WHERE {where}) AS {t}" for t in INSERT_ORDER]
        held += [f"(SELECT count() FROM {t} WHERE {where} AND sign = -1) AS {t}_out" for t in RETRACTABLE]
        row = self.store.query("SELECT " + ", ".join(held), key | {"start": interval_start})[0]
        if any(row[f"{t}_out"] for t in RETRACTABLE):
            return None
        return {t for t in INSERT_ORDER if row[t]}


    def _take_out(self, attempts: list[tuple[dict, int]]) -> None:
        """Remove every row of batches (key, generation) that are not committed, and log their
        attempts as removed."""
        keys = {"keys": [_key_tuple(key) for key, _ in attempts]}
        where = "(tenant_id, sensor_id, batch_id) IN {keys:Array(Tuple(UInt32, UInt32, UUID))}"
        token = _joint_token([_token(key, generation) for key, generation in attempts])
        self._log_intents(attempts, "removing")  # a resend after a crash from here on must store anew
        for table in RETRACTABLE:
            # its own token: a second retraction of the same rows (a later generation) is not a
            # duplicate of the first
            self.store.command(
                f"INSERT INTO {table} SELECT * REPLACE (-sign AS sign) FROM {table} WHERE {where}",
                keys, settings={"insert_deduplication_token": f"{token}:retract:{table}"},
            )
        for table in INSERT_ORDER:
            self.store.command(f"DELETE FROM {self.store.local(table)} {self.store.on_cluster} WHERE {where}", keys)
        self._log_intents(attempts, "removed")

    def _log_intents(self, attempts: list[tuple[dict, int]], state: str) -> None:
        self.store.insert_rows("ingest_intents", [
            {"tenant_id": key["tenant"], "sensor_id": key["sensor"], "batch_id": key["batch"],
             "generation": generation, "state": state} for key, generation in attempts])

    def _step(self, step: str) -> None:
        if step == self.crash_at:
            log.critical("crash_at=%s: exiting as a crash would", step)
            os._exit(70)

    def _lock(self, tenant_id: int, sensor_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((tenant_id, sensor_id), threading.Lock())

    def _insert(self, table: str, data: pa.Table, token: str) -> None:
        settings = {
            "insert_deduplication_token": f"{token}:{table}",
            "deduplicate_blocks_in_dependent_materialized_views": 1,
            **INSERT_SETTINGS,
        }
        for attempt in range(INSERT_ATTEMPTS):
            try:
                self.store.insert_arrow(table, data, settings)
                return
            except OperationalError:  # connection trouble; the token makes a retry safe
                if attempt == INSERT_ATTEMPTS - 1:
                    raise

class _Pending:
    """A parsed batch waiting in a group, and what became of it."""

    def __init__(self, tenant_id: int, sensor_id: int, parsed: wire.Parsed | wire.Batch) -> None:
        self.tenant_id, self.sensor_id, self.parsed = tenant_id, sensor_id, parsed
        # once its values are checked (``_completed``; a decoded batch is already)
        self.batch = parsed if isinstance(parsed, wire.Batch) else None
        self.error: wire.WireError | None = None  # or the reason they are not stored
        self.key = _key(tenant_id, sensor_id, parsed.batch_id)
        self.rows = {name: parsed.rows(name) for name in wire.TABLES}
        self.status = ""  # "stored" or "duplicate" once its group is stored
        self.generation = 0
        self.stored: set[str] = set()  # tables holding its rows already (a resend after a crash)

    @property
    def token(self) -> str:
        return _token(self.key, self.generation)


def _completed(group: list[_Pending]) -> list[_Pending]:
    """The group's batches whose values pass ``wire.complete`` (checked and derived together: most of a
    small batch's decoding is the number of Arrow calls, not its rows); the others get their error."""
    fresh = [p for p in group if p.batch is None and p.error is None]
    for p, done in zip(fresh, wire.complete([p.parsed for p in fresh])):
        if isinstance(done, wire.WireError):
            p.error = done
        else:
            p.batch = done
    return [p for p in group if p.error is None]


def _size(parsed: wire.Parsed) -> int:
    """The bytes a parsed batch's tables hold (the buffers they point into, whole)."""
    return sum(table.get_total_buffer_size() for table in parsed.tables.values())


def _group_token(members: list[_Pending]) -> str:
    return _joint_token([p.token for p in members])


def _joint_token(tokens: list[str]) -> str:
    """One batch's own token; for several, a digest of theirs: the same group stored again (another
    worker, a retried connection) is the same insert."""
    if len(tokens) == 1:
        return tokens[0]
    return "group:" + hashlib.sha256("|".join(sorted(tokens)).encode()).hexdigest()[:32]


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table, one chunk: the insert is one block, stored whole or not at all."""
    return pa.concat_tables(tables, promote_options="default").combine_chunks() if len(tables) > 1 else tables[0]


def _key_tuple(key: dict) -> tuple:
    return key["tenant"], key["sensor"], key["batch"]


def _key(tenant_id: int, sensor_id: int, batch_id: str) -> dict:
    return {"tenant": tenant_id, "sensor": sensor_id, "batch": batch_id}


def _token(key: dict, generation: int) -> str:
    """The deduplication token of an attempt (the table's name is added per insert)."""
    return f"{key['tenant']}:{key['sensor']}:{key['batch']}:{generation}"


def with_keys(name: str, batches: list[tuple[wire.Batch, int, int, int]]) -> pa.Table:
    """The ``name`` rows of batches (batch, tenant, sensor, days its rows are kept) as one table, one
    chunk (an insert of it is one block, stored whole or not at all), with the store's keys of each
    row's batch, and for flows whether the flow began in the batch's interval: one Arrow array per
    column for all the batches, not per batch."""
    table = _concat([batch.tables[name] for batch, *_ in batches])
    of_batch = pa.array(np.repeat(np.arange(len(batches)), [batch.rows(name) for batch, *_ in batches]))

    def per_row(values: list, kind: pa.DataType) -> pa.Array:
        return pa.array(values, kind).take(of_batch)
    starts = per_row([batch.interval_start for batch, *_ in batches], wire.TS)
    table = (
        table.append_column("tenant_id", per_row([tenant for _, tenant, _, _ in batches], pa.uint32()))
        .append_column("sensor_id", per_row([sensor for _, _, sensor, _ in batches], pa.uint32()))
        .append_column("batch_id", per_row([batch.batch_id for batch, *_ in batches], pa.string()))
        .append_column("interval_start", starts)
        .append_column("retention_days", per_row([days for *_, days in batches], pa.uint16()))
    )
    if name == "flows":
        table = table.append_column("new_flow", pc.cast(pc.greater_equal(table["ts"], starts), pa.uint8()))
    return table


def batch_rows(batches: list[tuple[wire.Batch, int, int]]) -> pa.Table:
    """The commit markers (``batches`` rows) of batches (batch, tenant, sensor), one table."""
    return pa.Table.from_pylist([{
        "tenant_id": tenant_id,
        "sensor_id": sensor_id,
        "batch_id": batch.batch_id,
        "interval_start": batch.interval_start,
        "interval_end": batch.interval_end,
        **{name: batch.rows(name) for name in wire.TABLES},
        **{name: batch.counters.get(name, 0) for name in wire.COUNTERS},
    } for batch, tenant_id, sensor_id in batches], schema=_BATCH_SCHEMA)


_BATCH_SCHEMA = pa.schema(
    [
        ("tenant_id", pa.uint32()),
        ("sensor_id", pa.uint32()),
        ("batch_id", pa.string()),
        ("interval_start", wire.TS),
        ("interval_end", wire.TS),
    ]
    + [(name, pa.uint32()) for name in wire.TABLES]
    + [(name, pa.uint64()) for name in wire.COUNTERS]
)
