"""Issue 14 item 11: a locked login says so and when to retry, and says it alike for an account
that exists and an address that does not, so the answer tells an outsider nothing."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import httpx
import limits.storage.memory
import pytest
from coretest import PASSWORD, LiveServer

from core.access import accounts, auth, throttle
from core.api.app import create_app

REAL, UNKNOWN = "ops@acme.example", "ghost@acme.example"  # same length: the echoed field matches too


def _token(client: httpx.Client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/login", data={"csrf_token": _token(client), "email": email, "password": password})


def _comparable(r: httpx.Response, email: str) -> tuple[int, str, str]:
    """Status, Retry-After to the minute, and the body without its CSRF token and the echoed address."""
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", r.text).replace(email, "EMAIL")
    return r.status_code, str(-(-int(r.headers.get("Retry-After", "0")) // 60)), body


@pytest.fixture
def clock(monkeypatch):
    """The throttle's and the account pause's clock, standing still until moved: the windows do not
    depend on how fast a loaded machine answers the attempts."""
    moved, start, start_utc = [0.0], time.time(), auth.utcnow()
    fake = SimpleNamespace(time=lambda: start + moved[0])
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(throttle, "time", fake)
    monkeypatch.setattr(auth, "utcnow", lambda: start_utc + timedelta(seconds=moved[0]))

    def advance(seconds: float) -> None:
        moved[0] += seconds
    return advance


@pytest.fixture
def server(settings, clock):
    @contextmanager
    def start(**limits):
        with LiveServer(create_app(settings.model_copy(update=limits))) as live:
            with live.app.state.controlplane.sessions() as db:
                accounts.create_user(db, accounts.create_tenant(db, "acme"), REAL, PASSWORD)
            yield live
    return start


def test_throttled_real_and_unknown_accounts_get_the_same_locked_answer(server, clock):
    with server(login_limit_per_account_source="5/30 seconds", login_limit_per_source="100/minute") as live, httpx.Client(base_url=live.url) as client:
        for _ in range(5):  # interleaved, so both windows end in the same minute
            assert _login(client, REAL, "wrong password").status_code == 200
            assert _login(client, UNKNOWN, "wrong password").status_code == 200
        real, unknown = _login(client, REAL, PASSWORD), _login(client, UNKNOWN, PASSWORD)
        assert real.status_code == 429 and "一時的にロック" in real.text and re.search(r"\d\d:\d\d JST", real.text)
        assert _comparable(real, REAL) == _comparable(unknown, UNKNOWN)
        clock(31)  # the pause is over: the right password logs in
        assert _login(client, REAL, PASSWORD).status_code == 303


def test_a_paused_account_and_an_unknown_one_tried_as_often_look_alike(server, clock, monkeypatch):
    monkeypatch.setattr(auth, "ACCOUNT_CEILING", 3)
    monkeypatch.setattr(auth, "ACCOUNT_PAUSE", auth.timedelta(seconds=30))
    loose = {"login_limit_per_account_source": "100/minute", "login_limit_per_source": "100/minute"}
    with server(**loose) as live, httpx.Client(base_url=live.url) as client:
        answers = {REAL: [], UNKNOWN: []}
        for _ in range(4):  # three checked, the fourth crosses the ceiling
            for email in answers:
                answers[email].append(_comparable(_login(client, email, "wrong password"), email))
        assert [a[0] for a in answers[REAL]] == [200, 200, 200, 429]
        assert answers[REAL] == answers[UNKNOWN]
        locked = _login(client, REAL, PASSWORD)  # paused even for the right password
        assert locked.status_code == 429 and "一時的にロック" in locked.text
        assert _comparable(locked, REAL) == _comparable(_login(client, UNKNOWN, PASSWORD), UNKNOWN)
        clock(31)
        assert _login(client, REAL, PASSWORD).status_code == 303
