"""Passwords, sessions and tokens: verification, disabled users, token expiry and revocation, hashed-only
storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from coretest import authenticated, every_row
from pgtest import controlplane_url
from sqlalchemy import text

from core.access import accounts, auth
from core.store.controlplane import ControlPlane, User, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def cp(tmp_path):
    cp = ControlPlane(controlplane_url(tmp_path))
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
        assert authenticated(db, "ana@acme.example", PASSWORD).id == user.id
        assert authenticated(db, " ANA@acme.example ", PASSWORD).id == user.id
        assert authenticated(db, "ana@acme.example", "wrong password") is None
        assert authenticated(db, "nobody@acme.example", PASSWORD) is None


def test_disabled_user_cannot_log_in_and_loses_sessions_and_tokens(cp, user):
    with cp.sessions() as db:
        session = auth.start_session(db, user)
        _, api_token = accounts.create_api_token(db, user, "ci")
        accounts.set_disabled(db, db.get(User, user.id), True)
        assert auth.check_password(db, user.email, PASSWORD).outcome == "failed"
        assert auth.user_for_session(db, session) is None
        assert auth.user_for_api_token(db, api_token) is None
        accounts.set_disabled(db, db.get(User, user.id), False)
        assert auth.user_for_api_token(db, api_token).id == user.id  # tokens come back, sessions do not
        assert auth.user_for_session(db, session) is None
        assert authenticated(db, user.email, PASSWORD).id == user.id


def test_api_tokens_expire_and_can_be_revoked(cp, user):
    with cp.sessions() as db:
        token, raw = accounts.create_api_token(db, user, "ci", valid_for=timedelta(days=1))
        assert auth.user_for_api_token(db, raw).id == user.id
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
        assert auth.user_for_api_token(db, raw) is None
        other, raw2 = accounts.create_api_token(db, user, "grafana")
        accounts.revoke_api_token(db, other)
        assert auth.user_for_api_token(db, raw2) is None
        with pytest.raises(accounts.AccountError, match="positive"):
            accounts.create_api_token(db, user, "x", valid_for=timedelta(0))


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
        dump = every_row(db)
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
