"""Credentials: argon2 passwords, login sessions, sensor and API bearer tokens.

The dashboard relies on ``authenticate_user``, ``start_session``, ``end_session``,
``user_for_session`` and ``SESSION_COOKIE``. Raw tokens are returned once and stored only as
SHA-256 hashes (they are high-entropy, so a fast hash is enough); functions that write commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.store.controlplane import ApiToken, Sensor, User, UserSession, utcnow

SESSION_COOKIE = "mieruka_session"
SESSION_LIFETIME = timedelta(hours=12)
MAX_FAILED_LOGINS = 5  # consecutive failures before the account is locked for LOCKOUT
LOCKOUT = timedelta(minutes=15)
SENSOR_TOKEN_PREFIX = "mks_"
API_TOKEN_PREFIX = "mka_"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))  # verified against for unknown users


@dataclass(frozen=True)
class Identity:
    """Who is calling the read API; tenant_id scopes every query."""

    tenant_id: int
    user_id: int
    email: str
    role: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate_user(db: Session, email: str, password: str) -> User | None:
    """The user if email and password match and the account is not locked out, else None."""
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        _verify(
            _DUMMY_HASH, password
        )  # same cost as a real check: no user enumeration by timing
        return None
    now = utcnow()
    ok = _verify(user.password_hash, password)
    if user.locked_until and user.locked_until > now:
        return None
    if not ok:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
        db.commit()
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.commit()
    return user


def start_session(
    db: Session, user: User, lifetime: timedelta = SESSION_LIFETIME
) -> str:
    """Open a login session; return the raw cookie value (stored only hashed)."""
    raw = new_token()
    db.add(
        UserSession(
            token_hash=hash_token(raw), user_id=user.id, expires_at=utcnow() + lifetime
        )
    )
    db.commit()
    return raw


def end_session(db: Session, raw: str) -> None:
    db.execute(delete(UserSession).where(UserSession.token_hash == hash_token(raw)))
    db.commit()


def user_for_session(db: Session, raw: str | None) -> User | None:
    if not raw:
        return None
    found = db.scalar(
        select(UserSession).where(UserSession.token_hash == hash_token(raw))
    )
    if found is None:
        return None
    if found.expires_at <= utcnow():
        db.delete(found)
        db.commit()
        return None
    return db.get(User, found.user_id)


def identity(user: User) -> Identity:
    return Identity(
        tenant_id=user.tenant_id, user_id=user.id, email=user.email, role=user.role
    )


def user_for_api_token(db: Session, raw: str) -> User | None:
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    return token.user if token else None


def sensor_for_token(db: Session, raw: str) -> Sensor | None:
    return db.scalar(select(Sensor).where(Sensor.token_hash == hash_token(raw)))
