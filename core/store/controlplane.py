"""Control-plane database (SQLAlchemy 2): tenants, users, sessions, sensors, activation codes,
API tokens, contracts, audit log.

SQLite in the data directory by default, PostgreSQL in production (``MIERUKA_DATABASE_URL``); the
schema is Alembic's (core.store.cpmigrate), applied by ``create_schema``.
Secrets are never stored: passwords as argon2 hashes, tokens as SHA-256 of a high-entropy value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from core.store import cpmigrate

ROLES = ("admin", "analyst", "billing", "datateam")  # datateam: the provider's statistics (core/stats)


TOUCH_EVERY = timedelta(seconds=30)  # a sensor's last_seen is written at most this often


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC).replace(tzinfo=None) if value else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value else value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Detection (core/detect): the learning period in data hours (None: 168) and its epoch, which
    # ``mieruka tenants relearn`` advances so every sensor learns again from its next data.
    learning_hours: Mapped[float | None]
    learning_epoch: Mapped[int | None]
    site_networks: Mapped[str | None] = mapped_column(String(8000))  # CIDRs, comma-separated (None: private ranges)
    purged_at: Mapped[datetime | None]  # its data deleted when its contracts ended (core.export.purge)
    retention_days: Mapped[int | None]  # days its raw records are kept (None: the default; core.export.retention)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="analyst")
    # Consecutive failed logins, counted atomically (core.access.auth); past the ceiling the account is
    # paused until ``locked_until``.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]  # set: no login, and its sessions and API tokens stop working
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tenant: Mapped[Tenant] = relationship(lazy="joined")


class UserSession(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Sensor(Base):
    __tablename__ = "sensors"
    __table_args__ = (UniqueConstraint("tenant_id", "serial"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    serial: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # None until activated
    # shipped (activation code issued) → activated (the box has its token) → opened (passed the
    # opening test); a replacement box goes back to activated until it passes its own test.
    status: Mapped[str] = mapped_column(String(20), default="activated")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    # Completion dates that feed billing (specs/tariff.md): the first report wins.
    installed_at: Mapped[datetime | None]
    opening_tested_at: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    health: Mapped[dict | None] = mapped_column(JSON)  # the sensor's latest health report
    health_at: Mapped[datetime | None]
    silent_minutes: Mapped[int | None]  # sensor_silent after this long without an upload (None: 30)


class ActivationCode(Base):
    """A one-time code that gives the box with ``serial`` the identity of ``sensor``."""

    __tablename__ = "activation_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sensor_id: Mapped[int] = mapped_column(
        ForeignKey("sensors.id", ondelete="CASCADE"), index=True
    )
    serial: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    sensor: Mapped[Sensor] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # None: never
    revoked_at: Mapped[datetime | None]
    user: Mapped[User] = relationship(lazy="joined")


class Contract(Base):
    """A billing contract: the contract file (specs/tariff.md §4) as validated by the tariff engine,
    plus the columns it is looked up by. ``contract_id`` is the provider's contract number."""

    __tablename__ = "contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    contract_id: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[str] = mapped_column(String(40), index=True)
    document: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tenant: Mapped[Tenant] = relationship(lazy="joined")
    # OsecT: the sensors whose installation and opening-test dates feed the opening date.
    sensors: Mapped[list[Sensor]] = relationship(
        secondary="contract_sensors", order_by=Sensor.serial, lazy="selectin"
    )


class ContractSensor(Base):
    """Links a sensor to its contract; a sensor belongs to at most one contract."""

    __tablename__ = "contract_sensors"
    sensor_id: Mapped[int] = mapped_column(
        ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True
    )
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant_id: Mapped[int | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(
        String(320)
    )  # user email, "cli", "sensor:<serial>"
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(String(2000), default="")


class ControlPlane:
    """The engine and session factory for one control-plane database."""

    def __init__(self, url: str):
        self.url = make_url(url)
        if self.url.get_backend_name() == "sqlite" and self.url.database not in (
            None,
            "",
            ":memory:",
        ):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(self.url)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._touched: dict[int, datetime] = {}  # sensor id → the last_seen written (touch_sensor)

    def create_schema(self) -> str:
        """Bring the database to the newest schema revision (core.store.cpmigrate); returns it."""
        return cpmigrate.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error."""
        with self.sessions() as db, db.begin():
            yield db

    def touch_sensor(self, sensor_id: int, when: datetime) -> None:
        """Note a sensor's upload at ``when``: written at most every TOUCH_EVERY per sensor and process
        (hundreds of sensors upload at once, each write takes the database's write lock)."""
        if not self.touch_due(sensor_id, when):
            return
        with self.session() as db:
            db.execute(
                update(Sensor).where(Sensor.id == sensor_id).values(last_seen=when)
            )
        self._touched[sensor_id] = when  # (after the write: a failed one is tried again next upload)

    def touch_due(self, sensor_id: int, when: datetime) -> bool:
        """Whether ``touch_sensor`` would write the sensor's last_seen at ``when``."""
        last = self._touched.get(sensor_id)
        return last is None or not timedelta(0) <= when - last < TOUCH_EVERY

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def audit(
    db: Session, actor: str, action: str, tenant_id: int | None = None, detail: str = ""
) -> None:
    db.add(AuditLog(actor=_fitting(actor, AuditLog.actor), action=action, tenant_id=tenant_id,
                    detail=_fitting(detail, AuditLog.detail)))


def _fitting(text: str, column) -> str:
    """Text an audit column can hold on every backend: PostgreSQL, unlike SQLite, refuses NUL and
    text longer than the column (what is recorded may quote what a client sent)."""
    return text.replace("\x00", "\ufffd")[: column.type.length]
