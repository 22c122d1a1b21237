"""The FastAPI application: opens both stores, applies migrations and mounts the routers."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from core.api.routes import (
    activation,
    alerts,
    assets,
    audit,
    billing,
    changes,
    explore,
    flows,
    forwarding,
    health,
    ingest,
    protocols,
    risk,
    sensor,
    sensors,
    stats,
    talkers,
    tokens,
    traffic,
    users,
    vulnerabilities,
    zones,
)
from core.access import auth
from core.api.security import SecuredApp
from core.config import Settings
from core.forward.worker import Worker
from core.api import docs
from core.api.periodic import Periodic
from core.analytics.risktrend import keep_daily
from core.detect.engine import Detector
from core.export.purge import purge_ended
from core.export.retention import Retention
from core.export.retention import apply as apply_retention
from core.ingest import Ingestor
from core.api.metrics import Metrics, RequestTimer, worker_exits
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane
from core.store.tenant_changes import count_start
from core.access.throttle import LoginThrottle

log = logging.getLogger(__name__)

ROUTERS = (
    health.router,
    ingest.router,
    activation.router,
    sensor.router,
    sensors.router,
    flows.router,
    explore.router,
    forwarding.router,
    traffic.router,
    protocols.router,
    talkers.router,
    assets.router,
    changes.router,
    risk.router,
    alerts.router,
    billing.router,
    stats.router,
    users.router,
    tokens.router,
    audit.router,
    vulnerabilities.router,
    zones.router,
)


@functools.cache
def _collect_startup_garbage() -> None:
    """Once per process, before its first ``gc.freeze``: the garbage cycles of imports and startup
    (~2,500 objects; a full pass, ~170 ms) would otherwise be kept until shutdown. A process serves one
    app; another app started later in the same process (the tests) is not worth 170 ms each."""
    gc.collect()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; stores are opened at startup and closed at shutdown (app.state.*)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controlplane = ControlPlane(settings.database_dsn)
        controlplane.create_schema()
        auth.dummy_hash()  # an unknown user's first login costs what a known one's does
        clickhouse = ClickHouseStore(
            settings.clickhouse_dsn, settings.clickhouse_cluster
        ).open()
        try:
            clickhouse.migrate()
            app.state.controlplane = controlplane
            app.state.clickhouse = clickhouse
            clickhouse.observe = app.state.metrics.observe_clickhouse
            app.state.detector = Detector(clickhouse, controlplane, settings.detect_new_per_batch)
            retention = Retention(controlplane, settings.retention_raw_days)
            apply_retention(clickhouse, retention, settings.retention_rollup_days)
            count_start(clickhouse)  # what a killed process wrote past its counts is read again
            app.state.ingestor = Ingestor(clickhouse, app.state.detector, retention.days, settings.ingest_crash_at,
                                         group_rows=settings.ingest_group_rows)
            app.state.ingestor.observe_group = app.state.metrics.group.observe
            jobs = [Periodic("silence-watch", app.state.detector.check_silent, 60.0),
                    Periodic("purge-ended", lambda: purge_ended(clickhouse, controlplane.engine,
                                                                settings.purge_grace_days), 3600.0),
                    Periodic("risk-trend", lambda: keep_daily(clickhouse, controlplane), 3600.0),
                    # half-stored batches no sensor resent: from 10 minutes after start, when
                    # every sensor that can has resent what it sent before a crash
                    Periodic("ingest-recover", app.state.ingestor.recover, 600.0),
                    Worker(controlplane)]  # drains the alert outbox
            for job in jobs:
                job.start()
            # What the app holds while it runs (modules, plotly's validators, routes, stores: ~300 000
            # objects) is kept out of the collector's full passes, which then scan only what requests
            # leave; each pass over all of it took 100-700 ms, every few page requests.
            _collect_startup_garbage()
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()
                for job in jobs:
                    job.stop()
                app.state.ingestor.close()
        finally:
            clickhouse.close()
            controlplane.close()
            worker_exits()

    app = SecuredApp(title="mieruka", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                     openapi_url="/openapi.json" if settings.docs else None)
    if settings.docs:  # served from the installed package: no CDN
        app.include_router(docs.router)
        app.docs_paths = docs.PATHS
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.login_throttle = LoginThrottle(
        settings.rate_limit_storage, settings.login_limit_per_account_source, settings.login_limit_per_source
    )
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(DataError, _unstorable)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    for router in ROUTERS:
        app.include_router(router)
    for page_router in entry_points(group="mieruka.routers"):  # e.g. the dashboard
        app.include_router(page_router.load())
    for not_found in entry_points(group="mieruka.not_found"):  # the dashboard's page for browsers
        app.add_exception_handler(404, not_found.load())
    return app


async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
    """A value the control-plane database refuses: the client's, so a 422. (PostgreSQL is stricter than
    SQLite: no NUL in text, no text longer than its column, no integer beyond the column's range.)"""
    log.warning("%s %s: %s", request.method, request.url.path, str(exc.orig).splitlines()[0])
    return JSONResponse({"detail": "a value is too long, too large or holds a character that cannot be stored"},
                        status_code=422)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Unexpected failures answer in JSON like every other error."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)
