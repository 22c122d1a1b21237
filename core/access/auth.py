"""Credentials: argon2 passwords, login sessions, sensor and API bearer tokens.

The dashboard relies on ``check_password``, ``start_session``, ``end_session``,
``user_for_session`` and ``SESSION_COOKIE``; throttling per source address is core.access.throttle's.
Disabled users' sessions and API tokens stop working; API tokens may expire or be revoked. Raw tokens are returned once and stored only as
SHA-256 hashes (they are high-entropy, so a fast hash is enough); functions that write commit.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from core.store.controlplane import ApiToken, Sensor, User, UserSession, audit, utcnow

SESSION_COOKIE = "mieruka_session"
SESSION_LIFETIME = timedelta(hours=12)
# Consecutive failures after which an account is paused for everyone. High, because anyone can
# fail on purpose: the tight limits are per source address (core.access.throttle), not per account.
ACCOUNT_CEILING = 100
ACCOUNT_PAUSE = timedelta(minutes=15)
SENSOR_TOKEN_PREFIX = "mks_"
API_TOKEN_PREFIX = "mka_"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Identity:
    """Who is calling the read API; tenant_id scopes every query."""

    tenant_id: int
    user_id: int
    email: str
    role: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def dummy_hash() -> str:
    """A hash of no one's password, verified against for unknown users. Made when the API starts (argon2:
    ~0.2 s), not at import: every CLI command imports this module and serves no login."""
    return _dummy_hash(_hasher)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_hex(16))


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Attempt:
    """A password check: ``ok``, ``failed`` (unknown user, wrong password or disabled account
    alike) or ``paused`` (too many failures on the account; the password was not checked)."""

    outcome: str
    user: User | None = None


def email_key(email: str) -> str:
    """An address as users are looked up by: trimmed, lower case. One with a NUL, which no stored address
    has (PostgreSQL refuses the byte in text), is looked up as "", which matches no user either."""
    email = email.strip().lower()
    return "" if "\x00" in email else email


def check_password(db: Session, email: str, password: str, source: str = "") -> Attempt:
    """Check a login and audit it. Each attempt is counted before the password is checked, in one
    atomic UPDATE, so parallel guesses all count and at most ACCOUNT_CEILING are checked."""
    email = email.strip().lower()
    key = email_key(email)
    now = utcnow()
    # The first statement writes, so SQLite takes its write lock at once (a read first could not
    # upgrade); committed before the slow argon2 check.
    counted = db.execute(
        update(User)
        .where(User.email == key, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.id, User.failed_logins)
        .execution_options(synchronize_session=False)
    ).first()
    db.commit()
    user = db.scalar(select(User).where(User.email == key))
    if user is not None:
        db.refresh(user)
    at = f"{email} from {source or '?'}"
    if user is None:
        _verify(dummy_hash(), password)  # same cost as a real check: no user enumeration by timing
        return _audited(db, Attempt("failed"), None, f"{at} (unknown user)")
    if counted is None or counted.failed_logins > ACCOUNT_CEILING:
        if counted is not None:  # the attempt that crossed the ceiling pauses the account
            db.execute(
                update(User).where(User.id == user.id)
                .values(failed_logins=0, locked_until=now + ACCOUNT_PAUSE)
                .execution_options(synchronize_session=False)
            )
        return _audited(db, Attempt("paused", user), user.tenant_id, at)
    if not _verify(user.password_hash, password):
        return _audited(db, Attempt("failed", user), user.tenant_id, at)
    if user.disabled_at is not None:
        return _audited(db, Attempt("failed", user), user.tenant_id, f"{at} (account disabled)")
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _audited(db, Attempt("ok", user), user.tenant_id, at)


def pause_left(user: User) -> int:
    """Seconds until a paused account may log in again (a whole pause when it was paused just now)."""
    now, until = utcnow(), user.locked_until
    until = until and (until if until.tzinfo else until.replace(tzinfo=UTC))  # SQLite gives naive UTC
    until = until if until and until > now else now + ACCOUNT_PAUSE
    return max(1, math.ceil((until - now).total_seconds()))


def _audited(db: Session, attempt: Attempt, tenant_id: int | None, detail: str) -> Attempt:
    actor = attempt.user.email if attempt.outcome == "ok" else "login attempt"
    audit(db, actor, f"login.{attempt.outcome}", tenant_id, detail)
    db.commit()
    return attempt


def audit_throttled(db: Session, email: str, source: str) -> None:
    """Record a login refused by core.access.throttle (in the account's tenant's log, if it exists)."""
    email = email.strip().lower()
    tenant_id = db.scalar(select(User.tenant_id).where(User.email == email_key(email)))
    audit(db, "login attempt", "login.throttled", tenant_id, f"{email} from {source or '?'}")
    db.commit()


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
    user = db.get(User, found.user_id)
    return user if user.disabled_at is None else None


def identity(user: User) -> Identity:
    return Identity(
        tenant_id=user.tenant_id, user_id=user.id, email=user.email, role=user.role
    )


def token_is_live(token: ApiToken) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > utcnow())


def user_for_api_token(db: Session, raw: str) -> User | None:
    """The token's user, unless the token expired or was revoked or the user is disabled."""
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None or not token_is_live(token) or token.user.disabled_at is not None:
        return None
    return token.user


def sensor_for_token(db: Session, raw: str) -> Sensor | None:
    return db.scalar(select(Sensor).where(Sensor.token_hash == hash_token(raw)))
