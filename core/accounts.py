"""Provisioning: tenants, users, sensors and API tokens (used by the CLI, the demo and tests).

Each function validates its input (raising ``AccountError`` with a one-line reason), writes an
audit entry and commits. Raw tokens are returned once; only their hashes are stored.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import (
    API_TOKEN_PREFIX,
    SENSOR_TOKEN_PREFIX,
    hash_password,
    hash_token,
    new_token,
)
from core.store.controlplane import (
    ROLES,
    ActivationCode,
    ApiToken,
    Sensor,
    Tenant,
    User,
    audit,
    utcnow,
)

MIN_PASSWORD = 8
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """Provisioning input that cannot be applied; the message says why."""


def tenant_named(db: Session, name: str) -> Tenant:
    tenant = db.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise AccountError(f"no tenant named {name!r}")
    return tenant


def user_with_email(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
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
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if db.scalar(select(User).where(User.email == email)):
        raise AccountError(f"user {email!r} already exists")
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
    db: Session, user: User, name: str = "", actor: str = "cli"
) -> tuple[ApiToken, str]:
    """Issue an API token acting as ``user``; return it and the raw token (shown once)."""
    raw = new_token(API_TOKEN_PREFIX)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(raw))
    db.add(token)
    db.flush()
    audit(db, actor, "api_token.create", user.tenant_id, f"{user.email}: {name}")
    db.commit()
    return token, raw
