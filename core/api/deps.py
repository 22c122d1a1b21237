"""Request dependencies: stores, the caller's identity and the query window.

Tenant isolation lives here: ``Principal`` and ``SensorAuth`` carry the tenant, ``BillingScope`` the
tenants whose contracts a billing user sees, and no route takes a tenant id from the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Cookie, Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.access import auth
from core.billing import contracts
from core.analytics.window import Window, resolve_window
from core.config import Settings
from core.ingest import Ingestor
from core.stats.access import is_data_team
from core.api.metrics import Metrics
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor, utcnow


# The dependencies that only read app.state are ``async``: FastAPI runs a plain ``def`` dependency in
# a thread of the pool, a hop of its own for every request that uses it.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_clickhouse(request: Request) -> ClickHouseStore:
    return request.app.state.clickhouse


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.controlplane.sessions() as db:
        yield db


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_ingestor(request: Request) -> Ingestor:
    return request.app.state.ingestor


async def get_now() -> datetime:
    """The core's clock (a dependency, so tests can move it)."""
    return utcnow()


MAX_ID = 2**31 - 1  # row ids are 32-bit on PostgreSQL; larger ones in a path are a 422, not a 500
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClickHouse = Annotated[ClickHouseStore, Depends(get_clickhouse)]
DB = Annotated[Session, Depends(get_db)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
Now = Annotated[datetime, Depends(get_now)]
Bearer = Annotated[
    HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def sensor_auth(db: DB, bearer: Bearer, metrics: MetricsDep) -> Sensor:
    """The sensor whose token is in ``Authorization: Bearer``, in the request's session (``DB``)."""
    sensor = auth.sensor_for_token(db, bearer.credentials) if bearer else None
    # The connection goes back to the pool now (the sensor stays loaded): an upload holds its
    # request for as long as its batch takes to store, and hundreds of sensors upload at once.
    db.commit()
    return _known(sensor, bearer, metrics)


def uploading_sensor(request: Request, bearer: Bearer, metrics: MetricsDep) -> Sensor:
    """``sensor_auth`` for the ingest route, which changes nothing of the sensor: in a session of its own
    closed at once, rather than ``DB``'s, whose opening and closing are two more thread hops every
    upload. Looked up on every upload, not cached: a token revoked from the CLI (another process)
    stops working at once."""
    with request.app.state.controlplane.sessions() as db:
        return _known(auth.sensor_for_token(db, bearer.credentials) if bearer else None, bearer, metrics)


def _known(sensor: Sensor | None, bearer: HTTPAuthorizationCredentials | None, metrics: Metrics) -> Sensor:
    if sensor is None:
        metrics.rejected.labels("unauthorized").inc()
        raise _unauthorized(
            "invalid sensor token" if bearer else "missing sensor token"
        )
    return sensor


def principal(
    db: DB,
    bearer: Bearer,
    session: Annotated[str | None, Cookie(alias=auth.SESSION_COOKIE)] = None,
) -> auth.Identity:
    """The user behind an API token (``Authorization: Bearer``) or a login session cookie."""
    if bearer:
        user = auth.user_for_api_token(db, bearer.credentials)
    else:
        user = auth.user_for_session(db, session)
    if user is None:
        raise _unauthorized("invalid API token" if bearer else "not logged in")
    return auth.identity(user)


SensorAuth = Annotated[Sensor, Depends(sensor_auth)]
UploadingSensor = Annotated[Sensor, Depends(uploading_sensor)]
Principal = Annotated[auth.Identity, Depends(principal)]


def admin(who: Principal) -> auth.Identity:
    """An admin of their own tenant; every other role gets 403."""
    if who.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return who


def admin_writer(who: Annotated[auth.Identity, Depends(admin)], bearer: Bearer) -> auth.Identity:
    """An admin changing something: only with an API token (a cookie could be a cross-site request;
    the dashboard has its own CSRF-protected forms)."""
    if bearer is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "writes through the API need an API token")
    return who


Admin = Annotated[auth.Identity, Depends(admin)]
AdminWriter = Annotated[auth.Identity, Depends(admin_writer)]


def billing_scope(who: Principal, db: DB, settings: SettingsDep) -> contracts.Scope:
    """The contracts a billing user sees (core.billing.contracts); every other role gets 403."""
    scope = contracts.billing_scope(db, who, settings.provider_tenant)
    if scope is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "billing staff only")
    return scope


BillingScope = Annotated[contracts.Scope, Depends(billing_scope)]


def data_team(who: Principal, db: DB, settings: SettingsDep) -> auth.Identity:
    """The provider's data team (core.stats.access); every other caller gets 403."""
    if not is_data_team(db, who, settings.provider_tenant):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the provider's data team only")
    return who


DataTeam = Annotated[auth.Identity, Depends(data_team)]


def time_window(
    ch: ClickHouse,
    who: Principal,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """``start``/``end`` (ISO 8601, UTC if no offset, clamped to 1970..2106); by default the 24 h up
    to the newest data."""
    try:
        return resolve_window(ch, who.tenant_id, start, end)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


TimeWindow = Annotated[Window, Depends(time_window)]
