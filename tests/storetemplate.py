"""A migrated embedded ClickHouse store that fixtures copy into a fresh data directory, so a test's core
starts on an up-to-date store (as a restarted core does) instead of applying every migration again:
about 2-3 s per fresh store, hundreds of times a run. Tests of the migrations themselves build their
stores from nothing (tests/core/test_store.py, test_retention.py ...) and do not use this.

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

_root: Path | None = None  # set by tests/conftest.py: a folder every worker of the run shares

_BUILD = """
import sys
from core.store.clickhouse import ClickHouseStore
with ClickHouseStore("chdb://" + sys.argv[1]) as store:
    store.migrate()
"""


def use_root(path: Path) -> None:
    global _root
    _root = path


def _template() -> Path:
    """The migrated store's directory, built on first use."""
    done = _root / "clickhouse-template"
    if done.is_dir():
        return done
    _root.mkdir(parents=True, exist_ok=True)
    with open(_root / "clickhouse-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it
        if not done.is_dir():
            building = _root / f"clickhouse-template.{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            subprocess.run([sys.executable, "-c", _BUILD, str(building)], check=True, capture_output=True)
            building.rename(done)
    return done


def migrated(data_dir: Path) -> Path:
    """``data_dir`` (created if need be) with a migrated store in ``clickhouse/`` unless it has one.
    Outside pytest (bench/ scripts use the test helpers) it is left as it is: the core migrates it."""
    data_dir = Path(data_dir)
    target = data_dir / "clickhouse"
    if _root is not None and not target.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(_template(), target, symlinks=True)  # its table links are relative
    return data_dir
