"""Prometheus metrics of one app instance (own registry, so apps in one process don't mix).

Counted as things happen: batches by result, rejections by reason, rows by table, ingest time, the
lag from a batch's interval end to its storage per sensor, request time per route and ClickHouse
time per kind of call. Read from the control plane when scraped (``refresh``): each sensor's
upload age and batches it set aside, each forwarding destination's queue.

With several worker processes (``mieruka serve --workers N``) each counts in its own files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, chosen when the variable is set
before the worker starts) and a scrape of any worker reads them all: counters and histograms summed
over the workers, gauges the most recently set value.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.forward.models import Destination, OutboxEntry
from core.store.controlplane import ControlPlane, Sensor

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATEST = "mostrecent"  # a gauge's value over workers: the one set last
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.batches = Counter("mieruka_ingest_batches", "Batches accepted, by result (stored, duplicate)",
                               ["result"], registry=r)
        self.rejected = Counter("mieruka_ingest_rejected", "Batches rejected, by reason", ["reason"], registry=r)
        self.rows = Counter("mieruka_ingest_rows", "Rows stored, by table", ["table"], registry=r)
        self.latency = Histogram("mieruka_ingest_seconds", "Time to validate and store a batch", registry=r,
                                 buckets=SECONDS)
        self.in_flight = Gauge("mieruka_ingest_in_flight_batches", "Batches received and not answered yet "
                               "(decoding, waiting for their group, being stored), over the live workers",
                               registry=r, multiprocess_mode="livesum")
        self.group = Histogram("mieruka_ingest_group_batches", "Batches stored together by one insert per "
                               "table (group commit)", registry=r, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.lag = Gauge("mieruka_ingest_lag_seconds", "From the end of a sensor's latest stored batch "
                         "interval to its storage", ["sensor_id"], registry=r, multiprocess_mode=LATEST)
        self.requests = Histogram("mieruka_http_request_seconds", "HTTP requests by method, route template "
                                  "and status class", ["method", "route", "status"], registry=r, buckets=SECONDS)
        self.queries = Histogram("mieruka_clickhouse_seconds", "ClickHouse calls by kind (query, command, "
                                 "insert)", ["kind"], registry=r, buckets=SECONDS)
        self.upload_age = Gauge("mieruka_sensor_upload_age_seconds", "Since each sensor's last upload",
                                ["sensor_id"], registry=r, multiprocess_mode=LATEST)
        self.set_aside = Gauge("mieruka_sensor_batches_set_aside", "Batches a sensor set aside (refused "
                               "for good), from its latest health report", ["sensor_id"], registry=r,
                               multiprocess_mode=LATEST)
        self.queue = Gauge("mieruka_forward_queue_depth", "Alert changes waiting per forwarding destination",
                           ["destination_id"], registry=r, multiprocess_mode=LATEST)
        self.queue_age = Gauge("mieruka_forward_queue_oldest_seconds", "Age of the oldest waiting alert "
                               "change per destination", ["destination_id"], registry=r,
                               multiprocess_mode=LATEST)

    def refresh(self, controlplane: ControlPlane) -> None:
        """Set the gauges read from the control plane (at each scrape)."""
        now = datetime.now(UTC)
        with controlplane.session() as db:
            sensors = db.execute(select(Sensor.id, Sensor.last_seen, Sensor.health)).all()
            queues = db.execute(
                select(Destination.id, func.count(OutboxEntry.id), func.min(OutboxEntry.created_at))
                .join(OutboxEntry, (OutboxEntry.destination_id == Destination.id)
                      & OutboxEntry.delivered_at.is_(None), isouter=True)
                .group_by(Destination.id)).all()
        for sensor_id, last_seen, health in sensors:
            if last_seen is not None:
                self.upload_age.labels(str(sensor_id)).set((now - last_seen).total_seconds())
            self.set_aside.labels(str(sensor_id)).set(float((health or {}).get("spool_rejected") or 0))
        for destination_id, depth, oldest in queues:
            self.queue.labels(str(destination_id)).set(depth)
            self.queue_age.labels(str(destination_id)).set((now - oldest).total_seconds() if oldest else 0)

    def observe_clickhouse(self, kind: str, seconds: float) -> None:
        self.queries.labels(kind).observe(seconds)

    def render(self) -> bytes:
        """The text format: this process's metrics, or every worker's in multiprocess mode."""
        if not shared():
            return generate_latest(self.registry)
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
        return generate_latest(workers)


@contextmanager
def shared_between_workers() -> Iterator[str]:
    """While worker processes run: a directory for their metric files (the operator's
    PROMETHEUS_MULTIPROC_DIR without the metric files of an earlier run, which would be counted
    again, or a new temporary one, removed when the block ends), set in the environment the workers
    inherit; its path."""
    given = os.environ.get(MULTIPROC_DIR)
    path = Path(given or tempfile.mkdtemp(prefix="mieruka-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for earlier in path.glob("*.db"):  # prometheus_client's files; nothing else is touched
        earlier.unlink()
    os.environ[MULTIPROC_DIR] = str(path)
    try:
        yield str(path)
    finally:
        if not given:  # only the directory made here
            shutil.rmtree(path, ignore_errors=True)
            del os.environ[MULTIPROC_DIR]


def worker_exits() -> None:
    """A worker stops: its live gauges (batches in flight) are dropped; its counters stay in the sums."""
    if shared():
        multiprocess.mark_process_dead(os.getpid())


def shared() -> bool:
    """Whether this process counts in PROMETHEUS_MULTIPROC_DIR's files (fixed when prometheus_client
    was first imported)."""
    return values.ValueClass is not values.MutexValue


class RequestTimer:
    """ASGI middleware: each HTTP request's time, by method, route template (not the raw path, so
    the labels stay few) and status class."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), [500]

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, f"{status[0] // 100}xx").observe(
                time.perf_counter() - began)
