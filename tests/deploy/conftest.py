"""Fixtures of the deploy tests: the deploy's ClickHouse cluster in process (deploycluster.py)."""

from __future__ import annotations

import pytest
from deploycluster import NODE_ENV, connect, replay


@pytest.fixture(scope="module")
def chdb(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        for name, value in NODE_ENV.items():
            env.setenv(name, value)
        client = connect(tmp_path_factory.mktemp("cluster"))
        yield client
        client.close()


@pytest.fixture(scope="module")
def replayed(chdb):
    """The cluster schema replayed; each table's engine (name, full) and columns (name → type)."""
    replay(chdb)
    engines = {name: (engine, full) for name, engine, full in chdb.query(
        "SELECT name, engine, engine_full FROM system.tables WHERE database = currentDatabase()").result_rows}
    columns: dict[str, dict[str, str]] = {}
    for table, name, type_ in chdb.query("SELECT table, name, type FROM system.columns "
                                         "WHERE database = currentDatabase()").result_rows:
        columns.setdefault(table, {})[name] = type_
    return engines, columns
