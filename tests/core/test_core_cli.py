"""The ``mieruka`` CLI: provisioning commands, tokens printed once, bad input exits 2."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from coretest import authenticated
from sqlalchemy import select
from typer.testing import CliRunner

from core import cli
from core.access import auth
from core.fleet import activation
from core.config import Settings
from core.store.controlplane import AuditLog, ControlPlane, Sensor, User, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(cli.app, list(args), input=stdin)

    return run


@pytest.fixture
def acme(run):
    assert run("tenants", "add", "acme").exit_code == 0
    r = run(
        "users",
        "add",
        "--tenant",
        "acme",
        "--email",
        "ana@acme.example",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output


def controlplane() -> ControlPlane:
    return ControlPlane(Settings().database_dsn)


def test_provisioning_flow(run, acme):
    r = run(
        "sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--name", "Line 1", "--token"
    )
    assert r.exit_code == 0
    sensor_token = r.stdout.strip()
    assert (
        sensor_token.startswith(auth.SENSOR_TOKEN_PREFIX)
        and "shown only once" in r.stderr
    )
    r = run("tokens", "add", "--email", "ana@acme.example", "--name", "grafana")
    assert r.exit_code == 0
    api_token = r.stdout.strip()
    cp = controlplane()
    with cp.sessions() as db:
        assert auth.sensor_for_token(db, sensor_token).name == "Line 1"
        assert auth.user_for_api_token(db, api_token).email == "ana@acme.example"
        assert authenticated(db, "ana@acme.example", PASSWORD) is not None
    cp.close()


def test_password_prompt(run):
    run("tenants", "add", "acme")
    r = run(
        "users",
        "add",
        "--tenant",
        "acme",
        "--email",
        "bo@acme.example",
        "--role",
        "billing",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert r.exit_code == 0, r.output
    assert "bo@acme.example (billing)" in r.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["tenants", "add", "acme"], None, "error: tenant 'acme' already exists"),
        (["tenants", "add", "  "], None, "error: tenant name must not be empty"),
        (
            [
                "users",
                "add",
                "--tenant",
                "nope",
                "--email",
                "x@y.example",
                "--password-stdin",
            ],
            PASSWORD,
            "no tenant named 'nope'",
        ),
        (
            [
                "users",
                "add",
                "--tenant",
                "acme",
                "--email",
                "x@y.example",
                "--password-stdin",
            ],
            "short",
            "at least 8",
        ),
        (
            [
                "users",
                "add",
                "--tenant",
                "acme",
                "--email",
                "x@y.example",
                "--role",
                "root",
                "--password-stdin",
            ],
            PASSWORD,
            "role must be one of admin, analyst, billing",
        ),
        (
            ["users", "add", "--tenant", "acme", "--email", "nope", "--password-stdin"],
            PASSWORD,
            "not an email address",
        ),
        (["sensors", "add", "--tenant", "acme"], None, "Missing option '--serial'"),
        (
            ["sensors", "add", "--tenant", "nope", "--serial", "S"],
            None,
            "no tenant named 'nope'",
        ),
        (
            ["tokens", "add", "--email", "ghost@acme.example"],
            None,
            "no user with email",
        ),
        (["tenants", "frobnicate"], None, "No such command"),
        (["users", "disable", "ghost@acme.example"], None, "no user with email"),
        (["users", "set-password", "ana@acme.example", "--password-stdin"], "password1", "too easy to guess"),
        (["tokens", "revoke", "abc"], None, "Invalid value for 'ID'"),
        (["tokens", "revoke", "999"], None, "no API token 999"),
        (["tokens", "add", "--email", "ana@acme.example", "--expires-days", "0"], None, "--expires-days"),
        (["sensors", "revoke", "--tenant", "acme", "--serial", "nope"], None, "no sensor 'nope'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(run, acme, args, stdin, message):
    r = run(*args, stdin=stdin)
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stdout == ""


def test_duplicate_sensor_serial(run, acme):
    assert run("sensors", "add", "--tenant", "acme", "--serial", "S").exit_code == 0
    r = run("sensors", "add", "--tenant", "acme", "--serial", "S")
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_bad_setting_exits_2(run, monkeypatch):
    monkeypatch.setenv("MIERUKA_PORT", "eighty")
    r = run("tenants", "add", "acme")
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("error: bad setting MIERUKA_PORT")


def test_serve_runs_uvicorn_with_settings(run, monkeypatch):
    import uvicorn

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(kw, app=app))
    monkeypatch.setenv("MIERUKA_PORT", "8123")
    assert run("serve").exit_code == 0
    assert (
        calls["host"] == "127.0.0.1" and calls["port"] == 8123 and calls["workers"] == 1
    )
    assert calls["app"].title == "mieruka"


def test_serve_workers_need_server_stores(run, monkeypatch, tmp_path):
    import uvicorn

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(kw, app=app))
    r = run("serve", "--workers", "2")
    assert r.exit_code == 2 and r.stderr.count("error:") == 1 and "MIERUKA_CLICKHOUSE_URL" in r.stderr
    assert calls == {}
    monkeypatch.setenv("MIERUKA_CLICKHOUSE_URL", "http://ch.example:8123/mieruka")
    monkeypatch.setenv("MIERUKA_DATABASE_URL", "postgresql+psycopg://core@pg.example/mieruka")
    metrics_dir = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))  # what the workers inherit
    metrics_dir.mkdir()
    (metrics_dir / "counter_4242.db").write_bytes(b"an earlier run's counts")
    (metrics_dir / "notes.txt").write_text("the operator's")
    assert run("serve", "--workers", "4").exit_code == 0
    assert (calls["app"], calls["factory"], calls["workers"]) == ("core.api.app:create_app", True, 4)
    assert [p.name for p in metrics_dir.iterdir()] == ["notes.txt"]  # an earlier run's counts are not counted


def sensor_named(db, serial):
    return db.scalar(select(Sensor).where(Sensor.serial == serial))


def test_sensors_ship_with_activation_codes_reissue_and_replace(run, acme):
    r = run("sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--valid-days", "2")
    assert r.exit_code == 0, r.output
    first = r.stdout.strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", first)
    assert "registered as shipped" in r.stderr and "shown only once" in r.stderr
    r = run("sensors", "code", "--tenant", "acme", "--serial", "SN-1")
    assert r.exit_code == 0, r.output
    second = r.stdout.strip()
    cp = controlplane()
    with cp.sessions() as db:
        shipped = sensor_named(db, "SN-1")
        assert shipped.status == "shipped" and shipped.token_hash is None
        with pytest.raises(activation.ActivationError, match="expired"):
            activation.redeem(db, first)  # the reissue retired it
        activation.redeem(db, second)
    r = run("sensors", "replace", "--tenant", "acme", "--serial", "SN-1", "--new-serial", "SN-2")
    assert r.exit_code == 0, r.output
    assert "box SN-2 will take over sensor SN-1" in r.stderr
    with cp.sessions() as db:
        sensor, _ = activation.redeem(db, r.stdout.strip())
        assert (sensor.id, sensor.serial) == (shipped.id, "SN-2")
    r = run("sensors", "reset-date", "opening-test", "--tenant", "acme", "--serial", "SN-2")
    assert r.exit_code == 0 and "opening-test date of sensor SN-2 reset" in r.stderr
    with cp.sessions() as db:
        actions = db.scalars(select(AuditLog.action).where(AuditLog.action.like("sensor.%"))).all()
    cp.close()
    assert actions == ["sensor.ship", "sensor.activation_code", "sensor.activation_code",
                       "sensor.activate_refused", "sensor.activate", "sensor.replace", "sensor.activation_code",
                       "sensor.activate", "sensor.opening-test.reset"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replace", "--tenant", "acme", "--serial", "GHOST", "--new-serial", "N"], "no sensor 'GHOST'"),
        (["replace", "--tenant", "acme", "--serial", "S", "--new-serial", "S"], "already exists"),
        (["replace", "--tenant", "acme", "--serial", "S", "--new-serial", "  "], "must not be empty"),
        (["code", "--tenant", "acme", "--serial", "GHOST"], "no sensor 'GHOST'"),
        (["add", "--tenant", "acme", "--serial", "T", "--valid-days", "0"], "--valid-days"),
        (["reset-date", "billing", "--tenant", "acme", "--serial", "S"], "'billing'"),
    ],
)
def test_sensor_lifecycle_bad_input_exits_2(run, acme, args, message):
    assert run("sensors", "add", "--tenant", "acme", "--serial", "S").exit_code == 0
    r = run("sensors", *args)
    assert r.exit_code == 2 and message in r.stderr and r.stdout == ""


def test_users_disable_enable_unlock_set_password_list(run, acme):
    cp = controlplane()
    assert run("users", "disable", "ana@acme.example").exit_code == 0
    with cp.sessions() as db:
        assert authenticated(db, "ana@acme.example", PASSWORD) is None
    r = run("users", "list")
    assert r.exit_code == 0 and r.stdout.startswith("ana@acme.example\tacme\tanalyst\tdisabled since ")
    assert run("users", "enable", "ana@acme.example").exit_code == 0
    with cp.sessions() as db:
        user = db.scalar(select(User).where(User.email == "ana@acme.example"))
        user.locked_until = utcnow() + timedelta(minutes=15)
        db.commit()
        assert authenticated(db, "ana@acme.example", PASSWORD) is None
    assert "paused until" in run("users", "list", "--tenant", "acme").stdout
    assert run("users", "unlock", "ana@acme.example").exit_code == 0
    assert run("users", "list").stdout.strip().endswith("\tactive")
    r = run("users", "set-password", "ana@acme.example", "--password-stdin", stdin="tram depot lantern 42\n")
    assert r.exit_code == 0, r.output
    with cp.sessions() as db:
        assert authenticated(db, "ana@acme.example", PASSWORD) is None
        assert authenticated(db, "ana@acme.example", "tram depot lantern 42") is not None
        actions = [a for (a,) in db.execute(select(AuditLog.action))]
    assert {"user.disable", "user.enable", "user.unlock", "user.set_password"} <= set(actions)
    cp.close()


def test_tokens_expire_list_and_revoke(run, acme):
    r = run("tokens", "add", "--email", "ana@acme.example", "--name", "grafana", "--expires-days", "30")
    assert r.exit_code == 0 and "valid until" in r.stderr
    raw = r.stdout.strip()
    cp = controlplane()
    with cp.sessions() as db:
        assert auth.user_for_api_token(db, raw).email == "ana@acme.example"
    line = run("tokens", "list").stdout.strip().split("\t")
    assert line[0] == "1" and line[1:3] == ["ana@acme.example", "grafana"] and line[-1] == "live"
    assert run("tokens", "revoke", "1").exit_code == 0
    assert run("tokens", "list", "--tenant", "acme").stdout.strip().endswith("\trevoked")
    with cp.sessions() as db:
        assert auth.user_for_api_token(db, raw) is None
    cp.close()


def test_sensor_revoke_then_a_new_code_brings_the_same_box_back(run, acme):
    r = run("sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--token")
    token = r.stdout.strip()
    assert run("sensors", "revoke", "--tenant", "acme", "--serial", "SN-1").exit_code == 0
    cp = controlplane()
    with cp.sessions() as db:
        assert auth.sensor_for_token(db, token) is None
        sensor_id = sensor_named(db, "SN-1").id
    code = run("sensors", "code", "--tenant", "acme", "--serial", "SN-1").stdout.strip()
    with cp.sessions() as db:
        sensor, new_token = activation.redeem(db, code)
        assert sensor.id == sensor_id and auth.sensor_for_token(db, new_token).serial == "SN-1"
    cp.close()
