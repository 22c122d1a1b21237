"""Sensor activation: operators issue one-time codes, a box on site redeems one for its token.

A code is 16 Crockford base32 characters (80 random bits) printed in groups of four, typed by an
installer, stored only as a SHA-256 hash, valid for a limited time and redeemable once. Redeeming
gives the sensor a new bearer token in place of any earlier one, so a replacement box takes over
the sensor's identity (id, data, dates) and the failed box's token stops working.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.access.accounts import free_serial, sensor_with_serial
from core.access.auth import SENSOR_TOKEN_PREFIX, hash_token, new_token
from core.store.controlplane import ActivationCode, Sensor, Tenant, audit, utcnow

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
CODE_LENGTH = 16
GROUP = 4
_MISREAD = str.maketrans("OIL", "011")  # what a person may type for 0 and 1


class ActivationError(ValueError):
    """A code that cannot be redeemed; ``kind`` is malformed, unknown, used or expired."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalize(code: str) -> str:
    """The code's characters without separators, as issued; ActivationError if it cannot be one."""
    chars = "".join(code.upper().replace("-", "").split()).translate(_MISREAD)
    if len(chars) != CODE_LENGTH or any(c not in ALPHABET for c in chars):
        raise ActivationError(
            "malformed", f"not an activation code: expected {CODE_LENGTH} letters and digits"
        )
    return chars


def issue_code(
    db: Session, sensor: Sensor, serial: str, valid: timedelta, actor: str = "cli"
) -> tuple[str, datetime]:
    """A new code for the box ``serial`` to become ``sensor``; earlier unused codes expire now."""
    now = utcnow()
    db.execute(
        update(ActivationCode)
        .where(
            ActivationCode.sensor_id == sensor.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    raw = new_code()
    expires = now + valid
    db.add(
        ActivationCode(
            code_hash=hash_token(normalize(raw)),
            sensor_id=sensor.id,
            serial=serial,
            expires_at=expires,
        )
    )
    audit(db, actor, "sensor.activation_code", sensor.tenant_id,
          f"sensor {sensor.id} ({sensor.serial}): code for box {serial} until {expires:%Y-%m-%d %H:%M}Z")
    db.commit()
    return raw, expires


def ship_sensor(
    db: Session, tenant: Tenant, serial: str, name: str, valid: timedelta, actor: str = "cli"
) -> tuple[Sensor, str, datetime]:
    """Register a sensor as shipped; return it, its activation code (shown once) and the expiry."""
    serial = free_serial(db, tenant, serial)
    sensor = Sensor(tenant_id=tenant.id, serial=serial, name=name or serial, status="shipped")
    db.add(sensor)
    db.flush()
    audit(db, actor, "sensor.ship", tenant.id, serial)
    code, expires = issue_code(db, sensor, serial, valid, actor)
    return sensor, code, expires


def replace_sensor(
    db: Session, tenant: Tenant, old_serial: str, new_serial: str, valid: timedelta,
    actor: str = "cli",
) -> tuple[Sensor, str, datetime]:
    """A code with which the box ``new_serial`` takes over the sensor ``old_serial``."""
    sensor = sensor_with_serial(db, tenant, old_serial)
    new_serial = free_serial(db, tenant, new_serial)
    audit(db, actor, "sensor.replace", tenant.id,
          f"sensor {sensor.id}: box {sensor.serial} to be replaced by {new_serial}")
    code, expires = issue_code(db, sensor, new_serial, valid, actor)
    return sensor, code, expires


def redeem(db: Session, code: str) -> tuple[Sensor, str]:
    """Use ``code``: the sensor, now with the box's serial, and its new bearer token (shown once).

    Refusals are audited too (with the tenant when the code is known) and raise ActivationError.
    """
    now = utcnow()
    row = None
    try:
        row = db.scalar(
            select(ActivationCode).where(ActivationCode.code_hash == hash_token(normalize(code)))
        )
        if row is None:
            raise ActivationError("unknown", "activation code not recognised: check it was typed right")
        if row.used_at is not None:
            raise ActivationError(
                "used", f"activation code already used on {row.used_at:%Y-%m-%d %H:%M}Z; "
                "ask the operator for a new one")
        if row.expires_at <= now:
            raise ActivationError(
                "expired", f"activation code expired on {row.expires_at:%Y-%m-%d %H:%M}Z; "
                "ask the operator for a new one")
        # One UPDATE can claim the code, so two boxes racing with it cannot both succeed.
        claimed = db.execute(
            update(ActivationCode)
            .where(ActivationCode.id == row.id, ActivationCode.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if not claimed:
            raise ActivationError("used", "activation code already used")
    except ActivationError as exc:
        db.rollback()
        audit(db, f"sensor:{row.serial}" if row else "sensor:?", "sensor.activate_refused",
              row.sensor.tenant_id if row else None, str(exc))
        db.commit()
        raise
    sensor = row.sensor
    replaced = sensor.serial if sensor.serial != row.serial else ""
    raw = new_token(SENSOR_TOKEN_PREFIX)
    sensor.token_hash = hash_token(raw)  # the previous box's token stops working
    sensor.serial = row.serial
    sensor.status = "activated"
    sensor.activated_at = now
    audit(db, f"sensor:{row.serial}", "sensor.activate", sensor.tenant_id,
          f"sensor {sensor.id}" + (f": box {row.serial} replaces {replaced}" if replaced else ""))
    db.commit()
    return sensor, raw

