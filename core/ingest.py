"""Batch ingest: validate → dedupe → insert, exactly once whatever fails or crashes.

A batch is stored as: its attempt logged in ``ingest_intents`` ('started', generation g), then
events, observations, flows, then its ``batches`` row, which is the commit marker the dedupe check
reads. Every insert carries the deduplication token *tenant:sensor:batch:g:table*, the same for
every attempt of generation g — in any process — so:

- if the core dies anywhere before the marker, the sensor (which got no answer) resends the batch:
  the next attempt has the same generation, skips the tables that hold the batch already (each
  table's rows are one block, stored whole or not at all; checked by query, so however long ago) and
  inserts the rest;
- two workers storing the same batch at once store it once;
- if a step fails while the core runs, the rows of the batch are taken out before the error
  propagates (flows and events first re-inserted with ``sign`` negated, which retracts them from the
  rollup views that sum ``sign``, then every table's rows of the batch deleted) and the attempt is logged
  'removed': the resend is generation g + 1, with new tokens.

``recover`` (every 10 minutes, from 10 minutes after the core starts, so sensors have resent what
they had sent) takes out the rows of attempts older than RECOVER_AFTER that neither committed nor
were taken out: a crash whose batch no sensor resent. The asset ledger keeps what it saw:
min/max/argMax are unchanged when the sensor resends the batch.

With a ``Detector``, detection runs once the batch's rows are stored and before its commit marker,
inside the sensor's lock (so in batch order). Its failure is logged and never undoes or refuses the
batch. If the core stops before the marker, the sensor resends the batch, which is stored and
detected again; detection is idempotent per batch (core/detect/engine.py), so nothing is raised or
counted twice. A batch with its marker is a duplicate and is not detected again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.exceptions import OperationalError

from core.detect.engine import Detector
from core.store.clickhouse import ClickHouseStore
from sensor import wire

log = logging.getLogger(__name__)

INSERT_ORDER = ("events", "observations", "flows")  # flows last: it feeds the rollups
INSERT_ATTEMPTS = 3
RETRACTABLE = ("events", "flows")  # their views sum ``sign``: re-inserted negated, a batch is given back
RECOVER_AFTER = timedelta(minutes=10)  # an attempt this old without its marker is not in flight
# Steps at which ``crash_at`` makes the process exit (the crash tests): start, before:/after: a table.
STEPS = ("start", *(f"{when}:{table}" for table in (*INSERT_ORDER, "batches") for when in ("before", "after")))
_KEY = "tenant_id = {tenant:UInt32} AND sensor_id = {sensor:UInt32} AND batch_id = {batch:UUID}"

# Decodes at once in this process: each may hold a batch of up to wire.MAX_DECOMPRESSED bytes
# decompressed plus its tables, so concurrent requests must not multiply that.
DECODE_SLOTS = 2


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
                 retention: Callable[[int], int] = lambda tenant_id: 0, crash_at: str = ""):
        self.store = store
        self.detector = detector
        self.retention = retention  # tenant → days its raw records are kept (0: kept)
        if crash_at and crash_at not in STEPS:
            raise ValueError(f"crash_at must be one of {', '.join(STEPS)}")
        self.crash_at = crash_at  # tests only: the process exits at this step, as a crash would
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)

    def ingest(self, tenant_id: int, sensor_id: int, body: bytes,
               bounds: wire.TimeBounds | None = None) -> IngestResult:
        """Decode (raises wire.WireError) and store one batch body; idempotent per batch_id.
        ``bounds``: the times the batch may speak of."""
        with self._decode_slots:
            batch = wire.decode(body, bounds=bounds)
        rows = {name: batch.rows(name) for name in wire.TABLES}
        key = _key(tenant_id, sensor_id, batch.batch_id)
        # One batch at a time per sensor in this process, so check-then-insert cannot race.
        with self._lock(tenant_id, sensor_id):
            committed, generation, retried = self._state(key)
            if committed:
                return IngestResult("duplicate", batch.batch_id, rows, batch.interval_end)
            token = _token(key, generation)
            days = self.retention(tenant_id)
            # a resend after a crash: each table's insert is one block, stored whole or not at all
            stored = self._stored_tables(key, batch.interval_start) if retried else set()
            self._step("start")
            self._log_attempt(key, generation, "started")
            try:
                for name in INSERT_ORDER:
                    if rows[name] and name not in stored:
                        self._step(f"before:{name}")
                        self._insert(name, self._with_keys(batch, name, tenant_id, sensor_id, days), token)
                        self._step(f"after:{name}")
                if self.detector:
                    self._detect(tenant_id, sensor_id, batch)
                self._step("before:batches")
                self._insert("batches", _batch_row(batch, tenant_id, sensor_id), token)
                self._step("after:batches")
            except Exception:
                try:
                    self._take_out(key, generation, token)
                except Exception:  # the original error matters more; log this one
                    log.exception("could not remove partial batch %s", batch.batch_id)
                raise
        return IngestResult("stored", batch.batch_id, rows, batch.interval_end)

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
            """, {"age": int(older_than.total_seconds())})
        for row in stale:
            key = _key(row["tenant_id"], row["sensor_id"], row["batch_id"])
            with self._lock(row["tenant_id"], row["sensor_id"]):
                committed, generation, _ = self._state(key)
                if not committed and generation == row["generation"]:
                    self._take_out(key, generation, _token(key, generation))
                    log.warning("took out partial batch %s of sensor %s", row["batch_id"], row["sensor_id"])
        return len(stale)

    def _detect(self, tenant_id: int, sensor_id: int, batch: wire.Batch) -> None:
        try:
            self.detector.detect(tenant_id, sensor_id, batch)
        except Exception:  # the batch is stored all the same; its alerts are lost
            log.exception("detection failed on batch %s of sensor %s", batch.batch_id, sensor_id)

    def has_batch(self, tenant_id: int, sensor_id: int, batch_id: str) -> bool:
        """Whether this sensor's batch ``batch_id`` is stored (its commit marker is written)."""
        return self._state(_key(tenant_id, sensor_id, batch_id))[0]

    def _state(self, key: dict) -> tuple[bool, int, bool]:
        """(committed, the generation of the next attempt, whether that generation was attempted
        before: the core died during it) of a batch."""
        row = self.store.query(
            f"SELECT (SELECT count() FROM batches WHERE {_KEY}) AS committed, "
            f"(SELECT countIf(state = 'removed') FROM ingest_intents WHERE {_KEY}) AS removed, "
            f"(SELECT countIf(state = 'started') FROM ingest_intents WHERE {_KEY}) AS started", key)[0]
        return row["committed"] > 0, row["removed"], row["started"] > row["removed"]

    def _stored_tables(self, key: dict, interval_start: datetime) -> set[str]:
        """The raw tables that hold the batch's rows (whatever the deduplication window remembers)."""
        where = f"{_KEY} AND interval_start = {{start:DateTime64(6)}}"
        row = self.store.query("SELECT " + ", ".join(f"(SELECT count() FROM {t} WHERE {where}) AS {t}"
                                                      for t in INSERT_ORDER), key | {"start": interval_start})[0]
        return {t for t in INSERT_ORDER if row[t]}

    def _log_attempt(self, key: dict, generation: int, state: str) -> None:
        self.store.insert_rows("ingest_intents", [{"tenant_id": key["tenant"], "sensor_id": key["sensor"],
                                                   "batch_id": key["batch"], "generation": generation,
                                                   "state": state}])

    def _take_out(self, key: dict, generation: int, token: str) -> None:
        """Remove every row of a batch that is not committed, and log its attempt as removed."""
        for table in RETRACTABLE:
            # its own token: a second retraction of the same rows (a later generation) is not a
            # duplicate of the first
            self.store.command(
                f"INSERT INTO {table} SELECT * REPLACE (-sign AS sign) FROM {table} WHERE {_KEY}",
                key, settings={"insert_deduplication_token": f"{token}:retract:{table}"},
            )
        for table in INSERT_ORDER:
            self.store.command(f"DELETE FROM {self.store.local(table)} {self.store.on_cluster} WHERE {_KEY}", key)
        self._log_attempt(key, generation, "removed")

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
        }
        for attempt in range(INSERT_ATTEMPTS):
            try:
                self.store.insert_arrow(table, data, settings)
                return
            except OperationalError:  # connection trouble; the token makes a retry safe
                if attempt == INSERT_ATTEMPTS - 1:
                    raise

    @staticmethod
    def _with_keys(
        batch: wire.Batch, name: str, tenant_id: int, sensor_id: int, retention_days: int
    ) -> pa.Table:
        table = batch.tables[name]
        n = table.num_rows
        table = (
            table.append_column("tenant_id", pa.array([tenant_id] * n, pa.uint32()))
            .append_column("sensor_id", pa.array([sensor_id] * n, pa.uint32()))
            .append_column("batch_id", pa.array([batch.batch_id] * n, pa.string()))
            .append_column("interval_start", pa.array([batch.interval_start] * n, wire.TS))
            .append_column("retention_days", pa.array([retention_days] * n, pa.uint16()))
        )
        if name == "flows":
            started = pc.greater_equal(
                table["ts"], pa.scalar(batch.interval_start, wire.TS)
            )
            table = table.append_column("new_flow", pc.cast(started, pa.uint8()))
        return table


def _key(tenant_id: int, sensor_id: int, batch_id: str) -> dict:
    return {"tenant": tenant_id, "sensor": sensor_id, "batch": batch_id}


def _token(key: dict, generation: int) -> str:
    """The deduplication token of an attempt (the table's name is added per insert)."""
    return f"{key['tenant']}:{key['sensor']}:{key['batch']}:{generation}"


def _batch_row(batch: wire.Batch, tenant_id: int, sensor_id: int) -> pa.Table:
    row = {
        "tenant_id": tenant_id,
        "sensor_id": sensor_id,
        "batch_id": batch.batch_id,
        "interval_start": batch.interval_start,
        "interval_end": batch.interval_end,
        **{name: batch.rows(name) for name in wire.TABLES},
        **{name: batch.counters.get(name, 0) for name in wire.COUNTERS},
    }
    return pa.Table.from_pylist([row], schema=_BATCH_SCHEMA)


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
