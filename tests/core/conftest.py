"""Fixtures for core tests: real chDB and SQLite, each app in its own data dir. With
MIERUKA_TEST_POSTGRES=1 every control plane is a PostgreSQL database instead (tests/pgtest.py).

chdb hosts one data directory per process and can move to another only once every client is
closed, so an app (and its directory) lives for one test, or for a module of read-only tests,
and is closed at teardown before the next one opens.
"""

from __future__ import annotations


import pytest
from argon2 import PasswordHasher
from coretest import LiveServer, Tenant, provision
from pgtest import POSTGRES, controlplane_url
from storetemplate import migrated
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from core.access import auth
from core.api.app import create_app
from core.config import Settings


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """Real argon2, at test-friendly cost (the CPU is shared with other suites)."""
    real = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = real


@pytest.fixture(autouse=True, scope="session")
def control_plane_backend():
    """MIERUKA_TEST_POSTGRES=1: a data directory's control plane, unless a test names one, is a database of
    its own on the session's PostgreSQL rather than its SQLite file (every path that builds Settings:
    fixtures, the CLI in process, tests reading ``Settings().database_dsn``)."""
    if not POSTGRES:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Settings, "database_dsn", property(lambda s: s.database_url or controlplane_url(s.data_dir)))
        yield


@pytest.fixture(autouse=True)
def controlplane_unused(request):
    """A test marked no_controlplane is left out of the PostgreSQL pass: it must send its control plane
    (any engine but an in-memory SQLite, its function-scoped fixtures' included) no statement."""
    if request.node.get_closest_marker("no_controlplane") is None:
        yield
        return
    sent = []

    def count(conn, cursor, statement, *_):
        if conn.engine.url.database not in (None, "", ":memory:"):  # an in-memory SQLite is nobody's
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert not sent, f"marked no_controlplane, yet it sent {len(sent)} statements, the first: {sent[0]}"


def make_settings(data_dir) -> Settings:
    """A data directory whose ClickHouse store is migrated already (tests/storetemplate.py)."""
    return Settings(data_dir=migrated(data_dir), max_batch_bytes=256 * 1024)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("core"))


@pytest.fixture(scope="module")
def client(module_settings):
    """TestClient on a started app (stores open, migrations applied), shared by a module."""
    with TestClient(create_app(module_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def tenants(client) -> tuple[Tenant, Tenant]:
    return provision(client.app, "acme"), provision(client.app, "globex")


@pytest.fixture
def live(settings):
    """A real uvicorn server on 127.0.0.1 in a thread; ``live.app`` is the app behind it."""
    with LiveServer(create_app(settings)) as server:
        yield server


@pytest.fixture
def live_tenants(live) -> tuple[Tenant, Tenant]:
    return provision(live.app, "acme"), provision(live.app, "globex")


@pytest.fixture(scope="module")
def shared_live(module_settings):
    """One live server for a module of tests that must all leave the stores unchanged."""
    with LiveServer(create_app(module_settings)) as server:
        server.tenants = provision(server.app, "acme"), provision(server.app, "globex")
        yield server
