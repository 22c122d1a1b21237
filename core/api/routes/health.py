"""Probes and metrics: GET /livez (the process serves), /readyz and its older name /healthz (both
stores answer: 503 when one does not), /metrics (Prometheus text format, token or loopback)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import Field

from core.api.deps import Bearer, MetricsDep, SettingsDep
from core.api.models import Out, refusals

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def _check(probe) -> bool:
    try:
        return bool(probe())
    except Exception:
        log.exception("health probe failed")
        return False


class ServiceHealth(Out):
    """Whether both stores answer."""

    status: Literal["ok", "unavailable"]
    clickhouse: bool = Field(description="the flow store answered a ping")
    controlplane: bool = Field(description="the control-plane database answered a ping")


class Liveness(Out):
    """The process serves requests (it says nothing of the stores: see /readyz)."""

    status: Literal["ok"]


@router.get("/livez", response_model=Liveness)
def livez() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=ServiceHealth,
            responses={503: {"model": ServiceHealth, "description": "a store does not answer"}})
@router.get("/healthz", response_model=ServiceHealth,
            responses={503: {"model": ServiceHealth, "description": "a store does not answer"}})
def readyz(request: Request) -> JSONResponse:
    checks = {
        "clickhouse": _check(request.app.state.clickhouse.ping),
        "controlplane": _check(request.app.state.controlplane.ping),
    }
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", **checks},
        status_code=200 if ok else 503,
    )


# Headers a reverse proxy adds: a request carrying one came from further away than its peer.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def metrics_reader(request: Request, settings: SettingsDep, bearer: Bearer) -> None:
    """With MIERUKA_METRICS_TOKEN, its bearer; without, a loopback client reaching us directly."""
    token = settings.metrics_token
    if token is not None:
        if bearer is None or not secrets.compare_digest(bearer.credentials.encode(),
                                                        token.get_secret_value().encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "metrics token required",
                                headers={"WWW-Authenticate": "Bearer"})
        return
    if not _loopback(request.client.host if request.client else "") or any(
            h in request.headers for h in PROXY_HEADERS):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "metrics are for loopback clients unless MIERUKA_METRICS_TOKEN is set")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", dependencies=[Depends(metrics_reader)], response_class=Response, responses={
    200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
    **refusals({401: "MIERUKA_METRICS_TOKEN is set and this is not its bearer",
                403: "not a loopback client, or forwarded by a proxy"})})
def metrics(request: Request, m: MetricsDep) -> Response:
    m.refresh(request.app.state.controlplane)
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)
