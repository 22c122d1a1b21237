"""/api/v1/forwarding: where the tenant's alerts are forwarded and how the outbox stands.

For the tenant's admins and analysts; secrets are never shown (whether a webhook key is set, the
TLS files' base names, the URL without credentials or most of its path).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import Field

from core.access import auth
from core.api.deps import DB, Principal
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.forward import destinations

router = APIRouter(tags=["forwarding"])
ERRORS = refusals({401: NEEDS_LOGIN, 403: "not an admin or analyst of the tenant"})


def watcher(who: Principal) -> auth.Identity:
    if who.role not in ("admin", "analyst"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins and analysts only")
    return who


class DestinationOut(Out):
    name: str
    url: str = Field(description="scheme, host, port and the start of the path; never credentials")
    format: Literal["cef", "leef", "json"]
    min_severity: str = Field(description="alerts less severe than this are not forwarded")
    secret_set: bool = Field(description="whether a webhook HMAC key is set (the key is never shown)")
    tls_files: list[str] = Field(description="base names of the CA bundle, client certificate and key")
    verify: bool = Field(description="whether the receiver's TLS certificate is checked")
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str | None
    failures: int = Field(description="failed attempts in a row (the backoff grows with them)")
    next_attempt: datetime | None = Field(description="no delivery before this (backoff)")
    queued: int = Field(description="alert changes waiting to be delivered")
    oldest_queued: datetime | None = Field(description="when the oldest waiting change was queued")

    @classmethod
    def of(cls, d: destinations.State) -> DestinationOut:
        return cls(name=d.name, url=d.url, format=d.format, min_severity=d.min_severity, secret_set=d.secret,
                   tls_files=list(d.tls_files), verify=d.verify, last_success=d.last_success,
                   last_failure=d.last_failure, last_error=d.last_error, failures=d.failures,
                   next_attempt=d.next_attempt, queued=d.queued, oldest_queued=d.oldest_queued)


@router.get("/api/v1/forwarding", responses=ERRORS)
def forwarding_status(who: Annotated[auth.Identity, Depends(watcher)], db: DB) -> list[DestinationOut]:
    return [DestinationOut.of(state) for _, state in destinations.states(db, who.tenant_id)]
