"""Control-plane schema migrations (Alembic) on real SQLite files and a real PostgreSQL: a fresh database
goes to head, a database made before migrations is adopted with its rows, the migrated schema is the
models' (autogenerate finds no difference; a failure here prints what a new revision must do), two
processes starting at once, and the CLI and the app on PostgreSQL end to end."""

from __future__ import annotations

import re
import threading
from contextlib import ExitStack

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from coretest import PASSWORD, authenticated, bearer
from fastapi.testclient import TestClient
from pgtest import postgres_url
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

import core.forward.models  # noqa: F401  (its tables are the control plane's too)
from core import cli
from core.access import accounts, auth
from core.api.app import create_app
from core.config import Settings
from core.store import cpmigrate
from core.store.controlplane import ApiToken, AuditLog, Base, ControlPlane, Sensor, User

BACKENDS = ["sqlite", "postgresql"]
# What an older release's database lacked: columns added since (nullable), a table, an index.
LATER_COLUMNS = [("users", "disabled_at"), ("api_tokens", "expires_at"), ("api_tokens", "revoked_at"),
                 ("sensors", "silent_minutes"), ("tenants", "retention_days")]


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/control.db"
    else:
        with postgres_url() as url:
            yield url


@pytest.fixture
def controlplane(url):
    cp = ControlPlane(url)
    yield cp
    cp.close()


def differences(cp: ControlPlane) -> list:
    with cp.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def revision(cp: ControlPlane) -> str | None:
    with cp.engine.connect() as conn:
        return cpmigrate.current(conn)


def test_a_fresh_database_goes_to_head_and_matches_the_models(controlplane):
    controlplane.create_schema()
    assert revision(controlplane) == cpmigrate.head()
    assert differences(controlplane) == []
    controlplane.create_schema()  # at head: nothing to do
    assert revision(controlplane) == cpmigrate.head()


def test_a_database_made_before_migrations_is_adopted_with_its_rows(controlplane):
    cp = controlplane
    Base.metadata.create_all(cp.engine)  # how the control plane was made before migrations
    with cp.sessions() as db:
        tenant = accounts.create_tenant(db, "acme")
        user = accounts.create_user(db, tenant, "ana@acme.example", PASSWORD, "admin")
        _, token = accounts.create_api_token(db, user, "ci")
        sensor, _ = accounts.create_sensor(db, tenant, "SN-1")
        sensor.health = {"disk_free": 0.5, "interfaces": ["eth1"]}
        db.commit()
    with cp.engine.begin() as conn:  # an older release's database: later columns, a table, an index missing
        for table, column in LATER_COLUMNS:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("DROP TABLE forward_outbox"))
        conn.execute(text("DROP INDEX ix_contracts_plan"))
    with cp.engine.connect() as conn:
        before = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in inspect(conn).get_table_names()}
    assert "alembic_version" not in before and before["users"] == 1

    cp.create_schema()
    assert revision(cp) == cpmigrate.head()
    assert differences(cp) == []
    with cp.engine.connect() as conn:
        after = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in before}
    assert after == before
    with cp.sessions() as db:
        ana = authenticated(db, "ana@acme.example", PASSWORD)
        assert ana.role == "admin" and ana.disabled_at is None and ana.tenant.retention_days is None
        assert auth.user_for_api_token(db, token).email == "ana@acme.example"
        assert db.scalars(select(Sensor)).one().health == {"disk_free": 0.5, "interfaces": ["eth1"]}
        assert db.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))) == 1
    cp.create_schema()
    assert revision(cp) == cpmigrate.head()


def test_processes_starting_at_once_migrate_once():
    """Four control planes (engines of their own, as four workers have) upgrade one empty PostgreSQL
    database at the same moment: the advisory lock lets one migrate, the others find it done."""
    with postgres_url() as url, ExitStack() as stack:
        planes = [ControlPlane(url) for _ in range(4)]
        for cp in planes:
            stack.callback(cp.close)
        start, errors = threading.Barrier(len(planes)), []

        def migrate(cp: ControlPlane) -> None:
            start.wait()
            try:
                cp.create_schema()
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=migrate, args=(cp,)) for cp in planes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert revision(planes[0]) == cpmigrate.head() and differences(planes[0]) == []


def test_the_cli_and_the_app_on_postgresql(tmp_path, monkeypatch):
    """`mieruka db upgrade`, provisioning through the CLI, then a login and API calls on the app."""
    with postgres_url() as url:
        monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("MIERUKA_DATABASE_URL", url)
        runner = CliRunner()

        def run(*args, stdin=None):
            r = runner.invoke(cli.app, list(args), input=stdin)
            assert r.exit_code == 0, r.output
            return r

        assert f"revision {cpmigrate.head()}" in run("db", "upgrade").stderr
        run("tenants", "add", "acme")
        run("users", "add", "--tenant", "acme", "--email", "ana@acme.example", "--role", "admin",
            "--password-stdin", stdin=PASSWORD + "\n")
        token = run("tokens", "add", "--email", "ana@acme.example", "--name", "ci").stdout.strip()
        with TestClient(create_app(Settings(data_dir=tmp_path, database_url=url))) as client:
            assert client.app.state.controlplane.engine.dialect.name == "postgresql"
            assert client.get("/api/v1/sensors", headers=bearer(token)).status_code == 200
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            login = client.post("/login", data={"csrf_token": csrf, "email": "ana@acme.example",
                                                "password": PASSWORD}, follow_redirects=False)
            assert login.status_code == 303, login.text
            users = client.get("/api/v1/users")  # with the session cookie of the login
            assert users.status_code == 200 and [u["email"] for u in users.json()] == ["ana@acme.example"]
            refused_by_postgresql(client, bearer(token))
        cp = ControlPlane(url)  # what the app wrote stays
        with cp.sessions() as db:
            assert db.scalar(select(User.email)) == "ana@acme.example"
        cp.close()


def refused_by_postgresql(client, admin: dict) -> None:
    """What SQLite stores and PostgreSQL refuses is a 4xx or a failed login, never a 500."""
    assert client.delete(f"/api/v1/tokens/{2**31}", headers=admin).status_code == 422  # ids are 32-bit
    nul = client.post("/api/v1/users", json={"email": "a\x00b@acme.example", "password": PASSWORD + "x1"},
                      headers=admin)
    assert nul.status_code == 422 and "email" in nul.text
    token = client.post("/api/v1/tokens", json={"name": "ci\x00"}, headers=admin)
    assert token.status_code == 422 and "cannot be stored" in token.text
    client.cookies.clear()  # logged out
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    for email in ("ana\x00@acme.example", "x" * 5000 + "@acme.example"):
        login = client.post("/login", data={"csrf_token": csrf, "email": email, "password": "wrong"},
                            follow_redirects=False)
        assert login.status_code == 200  # the form again, with its error
    with client.app.state.controlplane.sessions() as db:  # recorded, as far as the column holds
        details = db.scalars(select(AuditLog.detail).where(AuditLog.action == "login.failed")).all()
    assert any(d.startswith("ana\ufffd@acme.example from") for d in details)
    assert any(len(d) == AuditLog.detail.type.length and d.startswith("xxx") for d in details)


def test_db_upgrade_names_an_unreachable_database_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MIERUKA_DATABASE_URL", "postgresql+psycopg://core:secret@127.0.0.1:1/mieruka")
    r = CliRunner().invoke(cli.app, ["db", "upgrade"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("error: control plane postgresql+psycopg://core:***@127.0.0.1:1/mieruka: ")
