"""Batch ingest: validate → dedupe → insert, all or nothing.

A batch is stored as: events, observations, flows, then its ``batches`` row, which is the commit
marker the dedupe check reads. Each insert carries an ``insert_deduplication_token`` so a retried
insert cannot double rows. If any step fails, the rows already written are removed before the
error propagates: flows are first re-inserted with ``sign`` negated (the rollup views sum
``sign``, so this retracts the batch from them), then every table's rows of the batch are deleted. The
asset ledger keeps what it saw: min/max/argMax are unchanged when the sensor resends the batch.

With a ``Detector``, detection runs once the batch's rows are stored and before its commit marker,
inside the sensor's lock (so in batch order). Its failure is logged and never undoes or refuses the
batch. If the core stops before the marker, the sensor resends the batch, which is stored and
detected again; detection is idempotent per batch (core/detect/engine.py), so nothing is raised or
counted twice. A batch with its marker is a duplicate and is not detected again.
"""

from __future__ import annotations

import logging
import threading
import uuid
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


class Ingestor:
    """Stores decoded batches for authenticated sensors into one ClickHouse store."""

    def __init__(self, store: ClickHouseStore, detector: Detector | None = None,
                 retention: Callable[[int], int] = lambda tenant_id: 0):
        self.store = store
        self.detector = detector
        self.retention = retention  # tenant → days its raw records are kept (0: kept)
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
            if self.has_batch(tenant_id, sensor_id, batch.batch_id):
                return IngestResult("duplicate", batch.batch_id, rows)
            # Per request, not per batch: once a failed batch's rows are removed, the sensor's
            # resend must not be dropped as a duplicate of the removed blocks.
            token = f"{tenant_id}:{sensor_id}:{batch.batch_id}:{uuid.uuid4().hex}"
            attempted: list[str] = []
            days = self.retention(tenant_id)
            try:
                for name in INSERT_ORDER:
                    if rows[name]:
                        attempted.append(name)
                        data = self._with_keys(batch, name, tenant_id, sensor_id, days)
                        self._insert(name, data, token)
                if self.detector:
                    self._detect(tenant_id, sensor_id, batch)
                self._insert("batches", _batch_row(batch, tenant_id, sensor_id), token)
            except Exception:
                try:
                    self._remove(attempted, key)
                except Exception:  # the original error matters more; log this one
                    log.exception("could not remove partial batch %s", batch.batch_id)
                raise
        return IngestResult("stored", batch.batch_id, rows)

    def _detect(self, tenant_id: int, sensor_id: int, batch: wire.Batch) -> None:
        try:
            self.detector.detect(tenant_id, sensor_id, batch)
        except Exception:  # the batch is stored all the same; its alerts are lost
            log.exception("detection failed on batch %s of sensor %s", batch.batch_id, sensor_id)

    def has_batch(self, tenant_id: int, sensor_id: int, batch_id: str) -> bool:
        """Whether this sensor's batch ``batch_id`` is stored (its commit marker is written)."""
        found = self.store.query(
            f"SELECT count() AS n FROM batches WHERE {_KEY}", _key(tenant_id, sensor_id, batch_id)
        )
        return found[0]["n"] > 0

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

    def _remove(self, tables: list[str], key: dict) -> None:
        if "flows" in tables:
            self.store.command(
                f"INSERT INTO flows SELECT * REPLACE (-sign AS sign) FROM flows WHERE {_KEY}",
                key,
            )
        for table in tables:
            self.store.command(
                f"DELETE FROM {self.store.local(table)} {self.store.on_cluster} WHERE {_KEY}",
                key,
            )


def _key(tenant_id: int, sensor_id: int, batch_id: str) -> dict:
    return {"tenant": tenant_id, "sensor": sensor_id, "batch": batch_id}


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
