"""Logins under attack: exact failure counts under concurrency, throttling per source and per
(source, account), no lockout an outsider can aim at a user, and the password policy."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from coretest import PASSWORD, LiveServer, authenticated
from fastapi.testclient import TestClient
from pgtest import controlplane_url, postgres_url

from core.access import accounts, auth
from core.api.app import create_app
from core.store.controlplane import AuditLog, ControlPlane, User
from core.access.throttle import LoginThrottle, source_key

EMAILS = [f"user{i}@acme.example" for i in range(5)]


@pytest.fixture
def cp(tmp_path):
    cp = _provisioned(ControlPlane(controlplane_url(tmp_path)))
    yield cp
    cp.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_cp(request, tmp_path):
    """The control plane on SQLite, and on PostgreSQL when installed."""
    if request.param == "sqlite":
        cp = _provisioned(ControlPlane(f"sqlite:///{tmp_path}/control.db"))
        yield cp
        cp.close()
        return
    with postgres_url() as url:
        cp = _provisioned(ControlPlane(url))
        yield cp
        cp.close()


def _provisioned(cp: ControlPlane) -> ControlPlane:
    cp.create_schema()
    with cp.sessions() as db:
        tenant = accounts.create_tenant(db, "acme")
        for email in EMAILS:
            accounts.create_user(db, tenant, email, PASSWORD)
    return cp


def _attempt(cp: ControlPlane, email: str, password: str) -> str:
    with cp.sessions() as db:
        return auth.check_password(db, email, password, "198.51.100.1").outcome


def _failed_logins(cp: ControlPlane, email: str) -> int:
    with cp.sessions() as db:
        return db.query(User).filter_by(email=email).one().failed_logins


def test_parallel_failures_are_each_counted(any_cp):
    cp = any_cp
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda _: _attempt(cp, EMAILS[0], "wrong password"), range(20)))
    assert outcomes == ["failed"] * 20
    assert _failed_logins(cp, EMAILS[0]) == 20


def test_account_ceiling_holds_under_a_burst(any_cp, monkeypatch):
    cp = any_cp
    monkeypatch.setattr(auth, "ACCOUNT_CEILING", 5)
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda _: _attempt(cp, EMAILS[0], "wrong password"), range(30)))
    assert outcomes.count("failed") == 5  # only five passwords were even checked
    assert outcomes.count("paused") == 25
    assert _attempt(cp, EMAILS[0], PASSWORD) == "paused"  # paused for everyone, even when right
    with cp.sessions() as db:
        accounts.unlock_user(db, accounts.user_with_email(db, EMAILS[0]))
        actions = db.query(AuditLog.action).order_by(AuditLog.id).all()
    assert ("login.paused",) in actions and actions[-1] == ("user.unlock",)
    assert _attempt(cp, EMAILS[0], PASSWORD) == "ok"
    assert _failed_logins(cp, EMAILS[0]) == 0


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


def _login(client, email: str, password: str, token: str) -> httpx.Response:
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


@pytest.fixture
def live(settings):
    with LiveServer(create_app(settings)) as server:
        with server.app.state.controlplane.sessions() as db:
            tenant = accounts.create_tenant(db, "acme")
            for email in EMAILS:
                accounts.create_user(db, tenant, email, PASSWORD)
        yield server


def test_parallel_guesses_over_http_stop_at_the_limit(live):
    """20 parallel wrong passwords from one address: 5 are checked, 15 get 429 unchecked."""
    with httpx.Client(base_url=live.url, follow_redirects=False) as client:
        token = _csrf(client)
        with ThreadPoolExecutor(20) as pool:
            replies = list(pool.map(lambda _: _login(client, EMAILS[0], "wrong password", token), range(20)))
        codes = sorted(r.status_code for r in replies)
        assert codes == [200] * 5 + [429] * 15
        throttled = next(r for r in replies if r.status_code == 429)
        assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
        assert "temporarily locked" in throttled.text or "一時的にロック" in throttled.text
        # Right password, same address, same account: still throttled, not even checked.
        assert _login(client, EMAILS[0], PASSWORD, token).status_code == 429
    with live.app.state.controlplane.sessions() as db:
        assert db.query(User).filter_by(email=EMAILS[0]).one().failed_logins == 5
        actions = [a for (a,) in db.query(AuditLog.action)]
    # 16 refusals, audited once a minute per (source, account): a flood cannot fill the log.
    assert actions.count("login.failed") == 5 and actions.count("login.throttled") == 1


def test_one_address_guessing_across_accounts_is_throttled(live):
    """20 guesses spread over 5 accounts (4 each, under the per-account limit) from one address."""
    with httpx.Client(base_url=live.url, follow_redirects=False) as client:
        token = _csrf(client)
        codes = [_login(client, EMAILS[i % 5], "wrong password", token).status_code for i in range(20)]
    assert codes.count(200) == 10 and codes.count(429) == 10


def _client_from(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000), follow_redirects=False)


def test_an_outsider_cannot_lock_a_user_out(settings):
    app = create_app(settings)
    with _client_from(app, "203.0.113.66") as attacker, _client_from(app, "192.0.2.10") as owner:
        with app.state.controlplane.sessions() as db:
            accounts.create_user(db, accounts.create_tenant(db, "acme"), EMAILS[0], PASSWORD)
        token = _csrf(attacker)
        codes = [_login(attacker, EMAILS[0], "wrong password", token).status_code for _ in range(8)]
        assert codes == [200] * 5 + [429] * 3
        r = _login(owner, EMAILS[0], PASSWORD, _csrf(owner))
        assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize(
    "password",
    ["password", "aaaaaaaa", " " * 8, "{email}", "{email}1", "My{name}Secret", "acmeacme", "short"],
)
def test_weak_passwords_are_refused(cp, password):
    """Common, repetitive, the user's own e-mail or user name, the tenant's name, too short."""
    def own(email):
        return password.format(email=email, name=email.partition("@")[0])

    with cp.sessions() as db:
        tenant = accounts.tenant_named(db, "acme")
        with pytest.raises(accounts.AccountError) as create:
            accounts.create_user(db, tenant, "ana@acme.example", own("ana@acme.example"))
        with pytest.raises(accounts.AccountError) as reset:
            accounts.set_password(db, accounts.user_with_email(db, EMAILS[0]), own(EMAILS[0]))
    for exc in (create, reset):
        message = str(exc.value)
        assert message.startswith("password") and "\n" not in message


def test_long_passwords_are_judged_not_crashed_on(cp):
    with cp.sessions() as db:
        user = accounts.user_with_email(db, EMAILS[0])
        with pytest.raises(accounts.AccountError, match="too easy to guess"):
            accounts.set_password(db, user, "a" * 150)
        with pytest.raises(accounts.AccountError, match="at most 200"):
            accounts.set_password(db, user, "tram depot lantern 42 " * 10)
        accounts.set_password(db, user, "tram depot lantern 42 " * 6)  # 132 characters


def test_a_strong_password_is_accepted(cp):
    with cp.sessions() as db:
        user = accounts.user_with_email(db, EMAILS[0])
        accounts.set_password(db, user, "tram depot lantern 42")
    with cp.sessions() as db:
        assert authenticated(db, EMAILS[0], "tram depot lantern 42").id == user.id


def test_an_ipv6_host_cannot_rotate_addresses_within_its_64():
    throttle = LoginThrottle()
    waits = [throttle.admit(f"2001:db8:1:2::{i:x}", EMAILS[0]) for i in range(1, 8)]
    assert waits[:5] == [None] * 5 and all(w and w > 0 for w in waits[5:])
    assert throttle.admit("2001:db8:1:3::1", EMAILS[0]) is None  # another /64
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1" == source_key("192.0.2.1")


def test_limits_are_settings_and_bad_ones_are_refused(settings, monkeypatch):
    from pydantic import ValidationError

    from core.config import Settings

    app = create_app(settings.model_copy(update={"login_limit_per_source": "2/minute"}))
    with _client_from(app, "203.0.113.9") as client:
        with app.state.controlplane.sessions() as db:
            accounts.create_tenant(db, "acme")
        token = _csrf(client)
        codes = [_login(client, EMAILS[i], "wrong password", token).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    monkeypatch.setenv("MIERUKA_LOGIN_LIMIT_PER_SOURCE", "ten per minute")
    with pytest.raises(ValidationError, match="login_limit_per_source"):
        Settings()
