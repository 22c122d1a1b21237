"""The detection commands of ``mieruka``: learning settings, relearn, indicator import, kinds table."""

from __future__ import annotations

import pytest
from test_detect import STIX_IP, stix_bundle
from typer.testing import CliRunner

from core import cli
from core.config import Settings
from core.detect.kinds import KINDS
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import AuditLog, ControlPlane, Sensor, Tenant


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, list(args))


def tenant(name: str) -> Tenant:
    cp = ControlPlane(Settings().database_dsn)
    try:
        with cp.sessions() as db:
            return db.query(Tenant).filter_by(name=name).one()
    finally:
        cp.close()


def test_learning_hours_and_relearn(run):
    assert run("tenants", "add", "acme", "--learning-hours", "24").exit_code == 0
    assert tenant("acme").learning_hours == 24
    assert run("tenants", "set", "acme", "--learning-hours", "0").exit_code == 0
    assert tenant("acme").learning_hours == 0
    assert run("tenants", "relearn", "acme").exit_code == 0
    assert run("tenants", "relearn", "acme").exit_code == 0
    assert tenant("acme").learning_epoch == 2
    for bad in (("tenants", "set", "acme"), ("tenants", "set", "acme", "--learning-hours", "-1"),
                ("tenants", "relearn", "nobody")):
        r = run(*bad)
        assert r.exit_code == 2, (bad, r.output)


def test_site_networks(run):
    assert run("tenants", "add", "acme", "--site-networks", "203.0.113.0/24, 10.1.2.3/16").exit_code == 0
    assert tenant("acme").site_networks == "203.0.113.0/24,10.1.0.0/16"
    assert run("tenants", "set", "acme", "--site-networks", "192.0.2.0/25").exit_code == 0
    assert tenant("acme").site_networks == "192.0.2.0/25"
    for bad in ("", "10.0.0.0/33", "example.com", ",,"):
        r = run("tenants", "set", "acme", "--site-networks", bad)
        assert r.exit_code == 2 and r.output.count("error:") == 1, (bad, r.output)
    assert tenant("acme").site_networks == "192.0.2.0/25"


def test_sensor_silent_minutes(run):
    assert run("tenants", "add", "acme").exit_code == 0
    assert run("sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--token").exit_code == 0
    assert run("sensors", "set", "--tenant", "acme", "--serial", "SN-1", "--silent-minutes", "90").exit_code == 0
    cp = ControlPlane(Settings().database_dsn)
    try:
        with cp.sessions() as db:
            assert db.query(Sensor).filter_by(serial="SN-1").one().silent_minutes == 90
            assert db.query(AuditLog).filter_by(action="sensor.set").count() == 1
    finally:
        cp.close()
    for bad in (("--silent-minutes", "0"), ("--silent-minutes", "x"), ("--serial", "SN-2", "--silent-minutes", "5")):
        args = ["sensors", "set", "--tenant", "acme", "--serial", "SN-1", *bad]
        r = run(*args)
        assert r.exit_code == 2, (bad, r.output)


def test_indicators_import(run, tmp_path):
    assert run("tenants", "add", "acme").exit_code == 0
    (tmp_path / "feed.json").write_text(stix_bundle())
    (tmp_path / "feed.csv").write_text("domain,evil.example,phishing\nja4,t13d1516h2_8daaf6152771_b0da82dd1658\n")
    (tmp_path / "junk.csv").write_text("what,ever\n")
    r = run("indicators", "import", str(tmp_path / "feed.json"), "--tenant", "acme")
    assert r.exit_code == 0 and "2 indicator(s) imported for acme, 1 skipped" in r.output
    assert run("indicators", "import", str(tmp_path / "feed.csv")).exit_code == 0
    for bad in (("indicators", "import", str(tmp_path / "junk.csv")),
                ("indicators", "import", str(tmp_path / "missing.csv")),
                ("indicators", "import", str(tmp_path / "feed.csv"), "--tenant", "nobody")):
        r = run(*bad)
        assert r.exit_code == 2 and r.output.count("error:") == 1, (bad, r.output)
    with ClickHouseStore(Settings().clickhouse_dsn) as ch:
        rows = ch.query("SELECT tenant_id, type, value FROM indicators FINAL ORDER BY value, tenant_id")
    acme = tenant("acme").id
    assert [(r["tenant_id"], r["type"], r["value"]) for r in rows] == [
        (acme, "ip", STIX_IP), (0, "domain", "evil.example"), (acme, "domain", "evil.example"),
        (0, "ja4", "t13d1516h2_8daaf6152771_b0da82dd1658")]
    cp = ControlPlane(Settings().database_dsn)
    with cp.sessions() as db:
        assert db.query(AuditLog).filter_by(action="indicators.import").count() == 2
    cp.close()


def test_alerts_kinds_prints_every_kind(run):
    r = run("alerts", "kinds")
    assert r.exit_code == 0
    rows = [line for line in r.output.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(KINDS)
    assert "| `plc_stop` | critical |" in r.output
