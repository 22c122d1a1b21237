"""Passwords, sessions and tokens: verification, lockout, expiry, and hashed-only storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core import accounts, auth
from core.store.controlplane import ControlPlane, User, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def cp(tmp_path):
    cp = ControlPlane(f"sqlite:///{tmp_path}/control.db")
    cp.create_schema()
    yield cp
    cp.close()


@pytest.fixture
def user(cp):
    with cp.sessions() as db:
        tenant = accounts.create_tenant(db, "acme")
        return accounts.create_user(db, tenant, "Ana@Acme.example", PASSWORD, "admin")


def test_authenticate(cp, user):
    with cp.sessions() as db:
        assert auth.authenticate_user(db, "ana@acme.example", PASSWORD).id == user.id
        assert auth.authenticate_user(db, " ANA@acme.example ", PASSWORD).id == user.id
        assert auth.authenticate_user(db, "ana@acme.example", "wrong password") is None
        assert auth.authenticate_user(db, "nobody@acme.example", PASSWORD) is None


def test_lockout_after_repeated_failures(cp, user):
    with cp.sessions() as db:
        for _ in range(auth.MAX_FAILED_LOGINS):
            assert auth.authenticate_user(db, user.email, "wrong password") is None
        assert (
            auth.authenticate_user(db, user.email, PASSWORD) is None
        )  # locked, even when right
        db.get(User, user.id).locked_until = utcnow() - timedelta(seconds=1)
        db.commit()
        assert auth.authenticate_user(db, user.email, PASSWORD) is not None


def test_sessions(cp, user):
    with cp.sessions() as db:
        raw = auth.start_session(db, user)
        assert auth.user_for_session(db, raw).id == user.id
        assert auth.user_for_session(db, raw + "x") is None
        assert auth.user_for_session(db, None) is None
        auth.end_session(db, raw)
        assert auth.user_for_session(db, raw) is None
        expired = auth.start_session(db, user, lifetime=timedelta(seconds=-1))
        assert auth.user_for_session(db, expired) is None
        assert db.execute(text("SELECT count(*) FROM sessions")).scalar() == 0


def test_secrets_are_stored_only_hashed(cp, user, tmp_path):
    with cp.sessions() as db:
        tenant = accounts.tenant_named(db, "acme")
        _, sensor_token = accounts.create_sensor(db, tenant, "SN-1")
        _, api_token = accounts.create_api_token(db, user, "ci")
        session = auth.start_session(db, user)
        assert auth.sensor_for_token(db, sensor_token).serial == "SN-1"
        assert auth.user_for_api_token(db, api_token).id == user.id
        stored = db.execute(text("SELECT password_hash FROM users")).scalar()
        assert stored.startswith("$argon2")
        dump = "\n".join(db.connection().connection.iterdump())
    cp.close()
    raw_file = b"".join(p.read_bytes() for p in tmp_path.glob("control.db*"))
    for secret in (PASSWORD, sensor_token, api_token, session):
        assert secret not in dump
        assert secret.encode() not in raw_file
    assert auth.hash_token(sensor_token) in dump


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email"}, "not an email address"),
        ({"role": "root"}, "role must be one of"),
        ({"password": "short"}, "at least 8"),
        ({"email": "ana@acme.example"}, "already exists"),
    ],
)
def test_bad_user_input(cp, user, kwargs, message):
    args = {
        "email": "bob@acme.example",
        "password": PASSWORD,
        "role": "analyst",
    } | kwargs
    with cp.sessions() as db, pytest.raises(accounts.AccountError, match=message):
        accounts.create_user(db, accounts.tenant_named(db, "acme"), **args)


def test_audit_log_records_provisioning(cp, user):
    with cp.sessions() as db:
        actions = [
            r[0] for r in db.execute(text("SELECT action FROM audit_log ORDER BY id"))
        ]
    assert actions == ["tenant.create", "user.create"]
