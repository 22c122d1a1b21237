"""POST /api/v1/ingest: a sensor uploads one zstd batch (see sensor/wire/)."""

from __future__ import annotations

import logging

from typing import Literal

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from core.api.deps import IngestorDep, MetricsDep, Now, SettingsDep, UploadingSensor
from core.api.models import Out, refusals
from core.ingest import time_bounds
from core.store.controlplane import utcnow
from sensor.wire import WireError

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])
# Uploads wait for their group in threads of their own: a burst of them cannot take every thread of
# the pool the other routes (and every request's sync dependencies) run in (anyio's, 40 threads).
# Many: a group holds the batches waiting in them (128 capped groups at ~63 batches with 256 sensors
# uploading); the memory they hold is bounded by bytes (core.ingest.WAITING_BYTES), not by their count.
INGEST_THREADS = 1024
_ingest_threads: RunVar[anyio.CapacityLimiter] = RunVar("ingest_threads")  # one per event loop, as anyio's


def ingest_threads() -> anyio.CapacityLimiter:
    try:
        return _ingest_threads.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(INGEST_THREADS)
        _ingest_threads.set(limiter)
        return limiter


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"batch larger than {limit} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class Ingested(Out):
    """The batch's fate: stored now, or already stored before (a retry; nothing stored twice)."""

    status: Literal["stored", "duplicate"]
    batch_id: str = Field(description="the batch's id, from its envelope",
                          examples=["6f1c2a4e-8d3b-4f6a-9c1e-2b7d5e0a9f13"])
    rows: dict[str, int] = Field(default_factory=dict, description="rows stored per table; only when stored",
                                 examples=[{"flows": 120, "events": 4, "observations": 9}])


@router.post("/api/v1/ingest", response_model_exclude_unset=True, responses=refusals({
    400: "not a valid batch (the reason says what is wrong); do not retry it",
    401: "no valid sensor token",
    413: "batch larger than the core accepts",
    503: "storage failed, nothing stored; retry",
}))
async def ingest(
    request: Request,
    sensor: UploadingSensor,
    settings: SettingsDep,
    ingestor: IngestorDep,
    metrics: MetricsDep,
    now: Now,
) -> Ingested:
    try:
        body = await read_body(request, settings.max_batch_bytes)
    except HTTPException:
        metrics.rejected.labels("too_large").inc()
        raise
    try:
        bounds = time_bounds(
            now, settings.ingest_max_age_days, settings.ingest_max_future_s
        )
        with metrics.latency.time(), metrics.in_flight.track_inprogress():
            result = await anyio.to_thread.run_sync(
                ingestor.ingest, sensor.tenant_id, sensor.id, body, bounds, limiter=ingest_threads()
            )
    except WireError as exc:  # the batch's fault, whatever it is: 400, never a retry
        metrics.rejected.labels(exc.reason).inc()  # one of the few wire.Reason words
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"invalid batch: {exc}"
        ) from None
    except Exception:  # only the store can fail here: wire.decode turns every failure into WireError
        log.exception("storing a batch from sensor %s failed", sensor.id)
        metrics.rejected.labels("store_failed").inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "storage failed, batch not stored; retry",
        ) from None
    metrics.batches.labels(result.status).inc()
    if result.status == "stored":
        for table, n in result.rows.items():
            metrics.rows.labels(table).inc(n)
        metrics.lag.labels(str(sensor.id)).set((utcnow() - result.interval_end).total_seconds())
    controlplane, seen = request.app.state.controlplane, utcnow()
    if controlplane.touch_due(sensor.id, seen):  # at most every 30 s: no thread for the others
        try:
            await run_in_threadpool(controlplane.touch_sensor, sensor.id, seen)
        except SQLAlchemyError:  # the batch is stored and its answer stands; last_seen is written next upload
            log.warning("noting sensor %s's upload failed", sensor.id, exc_info=True)
    reply = {"status": result.status, "batch_id": result.batch_id}
    return reply | ({"rows": result.rows} if result.status == "stored" else {})
