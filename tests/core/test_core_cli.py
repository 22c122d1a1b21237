"""The ``mieruka`` CLI: provisioning commands, tokens printed once, bad input exits 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core import auth, cli
from core.config import Settings
from core.store.controlplane import ControlPlane

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
        "sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--name", "Line 1"
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
        assert auth.authenticate_user(db, "ana@acme.example", PASSWORD) is not None
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
