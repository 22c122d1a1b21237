"""Provisioning: tenants, users, sensors and API tokens (used by the CLI, the demo and tests).

Each function validates its input (raising ``AccountError`` with a one-line reason), writes an
audit entry and commits. Raw tokens are returned once; only their hashes are stored.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.access import passwords
from core.access.auth import (
    API_TOKEN_PREFIX,
    SENSOR_TOKEN_PREFIX,
    email_key,
    hash_password,
    hash_token,
    new_token,
    token_is_live,
)
from core.store.controlplane import (
    ROLES,
    ActivationCode,
    ApiToken,
    Sensor,
    Tenant,
    User,
    UserSession,
    audit,
    utcnow,
)

EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"  # no control characters
_EMAIL = re.compile(EMAIL_PATTERN)


class AccountError(ValueError):
    """Provisioning input that cannot be applied; the message says why (``code`` names a refused
    password's weakness, core.access.passwords.Weakness, for translated messages)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


def tenant_named(db: Session, name: str) -> Tenant:
    tenant = db.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise AccountError(f"no tenant named {name!r}")
    return tenant


def user_with_email(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == email_key(email)))
    if user is None:
        raise AccountError(f"no user with email {email!r}")
    return user


def create_tenant(db: Session, name: str, actor: str = "cli") -> Tenant:
    name = name.strip()
    if not name:
        raise AccountError("tenant name must not be empty")
    if db.scalar(select(Tenant).where(Tenant.name == name)):
        raise AccountError(f"tenant {name!r} already exists")
    tenant = Tenant(name=name)
    db.add(tenant)
    db.flush()
    audit(db, actor, "tenant.create", tenant.id, name)
    db.commit()
    return tenant


def create_user(
    db: Session,
    tenant: Tenant,
    email: str,
    password: str,
    role: str = "analyst",
    actor: str = "cli",
) -> User:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if db.scalar(select(User).where(User.email == email)):
        raise AccountError(f"user {email!r} already exists")
    _check_password(password, email, tenant)
    user = User(
        tenant_id=tenant.id,
        email=email,
        password_hash=hash_password(password),
        role=role,
    )
    db.add(user)
    db.flush()
    audit(db, actor, "user.create", tenant.id, f"{email} ({role})")
    db.commit()
    return user


def sensor_with_serial(db: Session, tenant: Tenant, serial: str) -> Sensor:
    sensor = db.scalar(
        select(Sensor).where(Sensor.tenant_id == tenant.id, Sensor.serial == serial.strip())
    )
    if sensor is None:
        raise AccountError(f"no sensor {serial!r} in tenant {tenant.name!r}")
    return sensor


def free_serial(db: Session, tenant: Tenant, serial: str) -> str:
    """``serial`` stripped, if no sensor of the tenant has it or is waiting for a box with it."""
    serial = serial.strip()
    if not serial:
        raise AccountError("sensor serial must not be empty")
    taken = db.scalar(
        select(Sensor).where(Sensor.tenant_id == tenant.id, Sensor.serial == serial)
    ) or db.scalar(
        select(ActivationCode)
        .join(Sensor)
        .where(
            Sensor.tenant_id == tenant.id,
            ActivationCode.serial == serial,
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > utcnow(),
        )
    )
    if taken:
        raise AccountError(f"sensor {serial!r} already exists in tenant {tenant.name!r}")
    return serial


def create_sensor(
    db: Session, tenant: Tenant, serial: str, name: str = "", actor: str = "cli"
) -> tuple[Sensor, str]:
    """Register an already activated sensor (lab, demo); return it and its bearer token (shown once)."""
    serial = free_serial(db, tenant, serial)
    raw = new_token(SENSOR_TOKEN_PREFIX)
    sensor = Sensor(
        tenant_id=tenant.id,
        serial=serial,
        name=name or serial,
        token_hash=hash_token(raw),
        activated_at=utcnow(),
    )
    db.add(sensor)
    db.flush()
    audit(db, actor, "sensor.create", tenant.id, serial)
    db.commit()
    return sensor, raw


def create_api_token(
    db: Session,
    user: User,
    name: str = "",
    actor: str = "cli",
    valid_for: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token acting as ``user`` (expiring after ``valid_for``, if given); return it
    and the raw token (shown once)."""
    if valid_for is not None and valid_for <= timedelta(0):
        raise AccountError("token lifetime must be positive")
    raw = new_token(API_TOKEN_PREFIX)
    expires = utcnow() + valid_for if valid_for is not None else None
    token = ApiToken(user_id=user.id, name=name.strip(), token_hash=hash_token(raw), expires_at=expires)
    db.add(token)
    db.flush()
    until = f", expires {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    audit(db, actor, "api_token.create", user.tenant_id, f"token {token.id} for {user.email}: {name}{until}")
    db.commit()
    return token, raw


def api_tokens(db: Session, tenant_id: int | None = None) -> list[ApiToken]:
    """API tokens, newest first; only ``tenant_id``'s when given."""
    query = select(ApiToken).join(User).order_by(ApiToken.id.desc())
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    return list(db.scalars(query))


def api_token(db: Session, token_id: int, tenant_id: int | None = None) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None or (tenant_id is not None and token.user.tenant_id != tenant_id):
        raise AccountError(f"no API token {token_id}")
    return token


def token_state(token: ApiToken) -> str:
    """``live``, ``expired`` or ``revoked``."""
    if token.revoked_at:
        return "revoked"
    return "live" if token_is_live(token) else "expired"


def paused_until(user: User) -> datetime | None:
    """When the pause after too many failed logins ends, if the account is paused now."""
    return user.locked_until if user.locked_until and user.locked_until > utcnow() else None


def user_state(user: User) -> str:
    """``active``, ``disabled`` or ``paused``."""
    return "disabled" if user.disabled_at else "paused" if paused_until(user) else "active"


def revoke_api_token(db: Session, token: ApiToken, actor: str = "cli") -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit(db, actor, "api_token.revoke", token.user.tenant_id, f"token {token.id} of {token.user.email}")
    db.commit()


def _check_password(password: str, email: str, tenant: Tenant) -> None:
    if weak := passwords.weakness(password, email, tenant.name):
        raise AccountError(weak.message, weak.code)


def users(db: Session, tenant_id: int | None = None) -> list[User]:
    """Users by e-mail; only ``tenant_id``'s when given."""
    query = select(User).order_by(User.email)
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    return list(db.scalars(query))


def tenant_user(db: Session, user_id: int, tenant_id: int) -> User:
    """A user of the tenant; another tenant's user is as unknown as a missing one."""
    user = db.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise AccountError(f"no user {user_id}")
    return user


def set_password(db: Session, user: User, password: str, actor: str = "cli") -> None:
    """Replace the password (policy-checked); the user's sessions end and any pause is lifted."""
    _check_password(password, user.email, user.tenant)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    db.execute(delete(UserSession).where(UserSession.user_id == user.id))
    audit(db, actor, "user.set_password", user.tenant_id, user.email)
    db.commit()


def unlock_user(db: Session, user: User, actor: str = "cli") -> None:
    """Lift a pause after too many failed logins (core.access.auth.ACCOUNT_CEILING)."""
    user.failed_logins, user.locked_until = 0, None
    audit(db, actor, "user.unlock", user.tenant_id, user.email)
    db.commit()


def set_disabled(db: Session, user: User, disabled: bool, actor: str = "cli") -> None:
    """Disable (no login; sessions end, API tokens stop working) or enable a user again."""
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        db.execute(delete(UserSession).where(UserSession.user_id == user.id))
    elif not disabled:
        user.disabled_at = None
    audit(db, actor, "user.disable" if disabled else "user.enable", user.tenant_id, user.email)
    db.commit()


def set_role(db: Session, user: User, role: str, actor: str = "cli") -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    audit(db, actor, "user.set_role", user.tenant_id, f"{user.email}: {user.role} -> {role}")
    user.role = role
    db.commit()


def revoke_sensor(db: Session, sensor: Sensor, actor: str = "cli") -> None:
    """The sensor's token stops working (its batches wait on the box); a new activation code
    (core.fleet.activation.issue_code) brings the same box back."""
    sensor.token_hash = None
    audit(db, actor, "sensor.revoke", sensor.tenant_id, sensor.serial)
    db.commit()
