"""Shared by every test folder. Its presence puts tests/ on sys.path, so test modules can import the
helpers in tests/coretest.py (live core server, provisioning, hand-made batches)."""

import os
from pathlib import Path

import pytest
import storetemplate

# Test data is dated from 2024 (coretest.T0) while ClickHouse expires raw records on its own clock:
# every core a test starts keeps them, unless the test sets a retention (tests/core/test_retention.py).
os.environ.setdefault("MIERUKA_RETENTION_RAW_DAYS", "0")

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared capture corpus (../shared/corpus); tests using it skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` hands out the longest files first (tests/fileorder.py)."""
    if config.getvalue("dist") == "loadfile":
        from fileorder import LongestFileFirst

        return LongestFileFirst(config, log)
    return None


@pytest.fixture(autouse=True, scope="session")
def store_template_folder(tmp_path_factory) -> None:
    """The run's migrated-store template (tests/storetemplate.py) lives where every xdist worker sees it."""
    base = tmp_path_factory.getbasetemp()
    storetemplate.use_root(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


@pytest.fixture
def clock(client):
    """clock(t): the core's time is ``t`` until the test ends (``client``: the folder's TestClient)."""
    from core.api.deps import get_now

    def set_to(t) -> None:
        client.app.dependency_overrides[get_now] = lambda: t
    yield set_to
    client.app.dependency_overrides.pop(get_now, None)
