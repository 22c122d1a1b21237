"""A throwaway PostgreSQL cluster for control-plane tests: one per test process, started on first use
with Debian's initdb/pg_ctl and stopped at exit, a fresh database for each caller.

``MIERUKA_TEST_POSTGRES=1`` puts every control plane of the core tests on it (``controlplane_url``: one
database per data directory); otherwise tests that ask for ``postgres_url()`` get a database and the rest
stay on SQLite files. Without PostgreSQL or psycopg, ``postgres_url()`` skips; with the switch on, that
is an error. (A module of its own, not conftest: several test folders have a conftest.)
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES = os.environ.get("MIERUKA_TEST_POSTGRES") == "1"


def _bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    return shutil.which(name) or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as its own user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class _Cluster:
    """initdb + pg_ctl start in a private temp dir (Unix socket there, no TCP), fsync off."""

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="mieruka-pg-"))  # pytest's dirs are private to root
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.data = self.workdir / "pgdata"
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.workdir / "pg.log"), "-o",
                  f"-k {self.workdir} -p {self.port} -c listen_addresses='' -c fsync=off "
                  "-c full_page_writes=off -c synchronous_commit=off -c max_connections=300", "start")
        import psycopg

        self.admin = psycopg.connect(host=str(self.workdir), port=self.port, user="postgres", dbname="postgres",
                                     autocommit=True)
        self.names = itertools.count(1)
        self.controlplane_migrated = False

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.workdir}&port={self.port}"

    def create(self, database: str, template: str = "template1") -> str:
        exists = self.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            self.admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        return self.url(database)

    def migrated(self, database: str) -> str:
        """A database at the control plane's newest schema: a copy of one migrated once per cluster
        (0.2 s of migrations saved per data directory; test_controlplane_migrations migrates its own)."""
        if not self.controlplane_migrated:
            from core.store.controlplane import ControlPlane

            controlplane = ControlPlane(self.create("cp_template"))
            controlplane.create_schema()
            controlplane.close()  # a template database must have no connections
            self.controlplane_migrated = True
        return self.create(database, "cp_template")

    def stop(self) -> None:
        self.admin.close()
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


_cluster: _Cluster | None = None


def _running() -> _Cluster:
    global _cluster
    if _cluster is None:
        missing = ("psycopg (pip install -e '.[dev]')" if importlib.util.find_spec("psycopg") is None
                   else "PostgreSQL (apt-get install postgresql)" if not _bin("initdb") else None)
        if missing and POSTGRES:
            pytest.fail(f"MIERUKA_TEST_POSTGRES=1 needs {missing}")
        if missing:
            pytest.skip(f"{missing} not installed")
        _cluster = _Cluster()
        atexit.register(_cluster.stop)
    return _cluster


@contextmanager
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database of the process's cluster."""
    cluster = _running()
    yield cluster.create(f"test_{next(cluster.names)}")


def controlplane_url(data_dir: Path) -> str:
    """The control plane of a data directory: its SQLite file (the core's default), or with
    MIERUKA_TEST_POSTGRES=1 a database of its own on the cluster (the same one each time), migrated."""
    data_dir = Path(data_dir).resolve()
    if not POSTGRES:
        return f"sqlite:///{data_dir / 'control.db'}"
    return _running().migrated("cp_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:24])


def controlplane_env(data_dir: Path) -> dict[str, str]:
    """MIERUKA_* variables that give a ``mieruka`` process the control plane of ``data_dir``."""
    return {"MIERUKA_DATABASE_URL": controlplane_url(data_dir)} if POSTGRES else {}
