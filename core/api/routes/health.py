"""GET /healthz (both stores reachable) and /metrics (Prometheus text format)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from core.api.deps import MetricsDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def _check(probe) -> bool:
    try:
        return bool(probe())
    except Exception:
        log.exception("health probe failed")
        return False


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    checks = {
        "clickhouse": _check(request.app.state.clickhouse.ping),
        "controlplane": _check(request.app.state.controlplane.ping),
    }
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", **checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics")
def metrics(m: MetricsDep) -> Response:
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)
