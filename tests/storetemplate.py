"""Migrated stores that fixtures copy into a fresh data directory, so a test's core starts on up-to-date
stores (as a restarted core does) instead of applying every migration again: the embedded ClickHouse
store (about 2-3 s of migrations, hundreds of times a run) and the SQLite control plane (0.2 s; on
PostgreSQL tests/pgtest.py clones a migrated database instead). Tests of the migrations themselves
build their stores from nothing (tests/core/test_store.py, test_controlplane_migrations.py ...).

The template is built once per test run, in a child process (chdb holds one data path per process),
by the same ``ClickHouseStore.migrate`` a core runs; xdist workers share it through a file lock.
(A module of its own, not conftest: several test folders have a conftest.)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pgtest import POSTGRES

_root: Path | None = None  # set by tests/conftest.py: a folder every worker of the run shares

_BUILD = """
import sys
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane
with ClickHouseStore("chdb://" + sys.argv[1] + "/clickhouse") as store:
    store.migrate()
controlplane = ControlPlane("sqlite:///" + sys.argv[1] + "/control.db")
controlplane.create_schema()
controlplane.close()
"""


def use_root(path: Path) -> None:
    global _root
    _root = path


def _template() -> Path:
    """A data directory of migrated stores, built on first use."""
    done = _root / "store-template"
    if done.is_dir():
        return done
    _root.mkdir(parents=True, exist_ok=True)
    with open(_root / "store-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it
        if not done.is_dir():
            building = _root / f"store-template.{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            subprocess.run([sys.executable, "-c", _BUILD, str(building)], check=True, capture_output=True)
            building.rename(done)
    return done


def migrated(data_dir: Path) -> Path:
    """``data_dir`` (created if need be) with migrated stores where it has none: ``clickhouse/`` and, unless
    the control plane is on PostgreSQL, ``control.db``. Outside pytest (bench/ scripts use the test
    helpers) it is left as it is: the core migrates its stores itself."""
    data_dir = Path(data_dir)
    if _root is None:
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "clickhouse").exists():
        shutil.copytree(_template() / "clickhouse", data_dir / "clickhouse", symlinks=True)  # relative links
    if not POSTGRES and not (data_dir / "control.db").exists():
        shutil.copyfile(_template() / "control.db", data_dir / "control.db")
    return data_dir
