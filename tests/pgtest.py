"""A throwaway PostgreSQL cluster for control-plane tests (skipped without PostgreSQL or psycopg).

(A module of its own, not conftest: several test folders have a conftest.)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    return shutil.which(name) or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as its own user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of the database of a private, throwaway cluster."""
    pytest.importorskip("psycopg")
    if not _bin("initdb"):
        pytest.skip("PostgreSQL not installed (apt-get install postgresql)")
    with tempfile.TemporaryDirectory(prefix="mieruka-pg-") as tmp:  # pytest's dirs are private to root
        workdir = Path(tmp)
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
        yield from _cluster(workdir)


def _cluster(workdir: Path) -> Iterator[str]:
    data, sock = workdir / "pgdata", workdir
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *a: subprocess.run(_as_postgres(list(a)), check=True, capture_output=True)  # noqa: E731
    run(_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "pg.log"), "-o",
        f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
    finally:
        run(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
