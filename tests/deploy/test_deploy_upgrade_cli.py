"""`mieruka clickhouse upgrade`: the deploy's one-shot `migrate` service applies the ClickHouse
migrations once, before the workers start (workers started together would race to apply them)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core import cli
from core.config import Settings
from core.store.clickhouse import ClickHouseStore, migrations


@pytest.fixture
def upgrade(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    return lambda: CliRunner().invoke(cli.app, ["clickhouse", "upgrade"])


def test_upgrade_applies_each_migration_once(upgrade):
    versions = [version for version, _, _ in migrations()]
    first = upgrade()
    assert first.exit_code == 0, first.output
    assert first.output == f"ClickHouse migrations applied: {', '.join(map(str, versions))}\n"
    again = upgrade()
    assert (again.exit_code, again.output) == (0, "ClickHouse schema up to date\n")
    with ClickHouseStore(Settings().clickhouse_dsn) as ch:
        assert sorted(r["version"] for r in ch.query("SELECT version FROM schema_migrations FINAL")) == versions


def test_an_unreachable_server_is_one_error_line(upgrade, monkeypatch):
    monkeypatch.setenv("MIERUKA_CLICKHOUSE_URL", "http://127.0.0.1:9/mieruka")  # discard port: refused
    done = upgrade()
    assert done.exit_code == 2
    assert done.output.startswith("error: clickhouse: ") and done.output.count("\n") == 1
