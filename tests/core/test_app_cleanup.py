"""What an app or a multi-worker serve makes for itself goes when it stops: detection's thread, the
metric files' temporary directory (never a directory the operator gave); startup's garbage is
collected before the app freezes what it holds."""

from __future__ import annotations

import gc
import os
import threading
import weakref
from pathlib import Path

from fastapi.testclient import TestClient

from core.api import app as app_module
from core.api.app import create_app
from core.api.metrics import MULTIPROC_DIR, shared_between_workers


def detect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("detect")]


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_startup_garbage_is_collected_not_frozen_and_a_stopped_app_leaves_no_thread(settings):
    app_module._collect_startup_garbage.cache_clear()  # as in a process starting its one app
    garbage = Cycle()
    gone = weakref.ref(garbage)
    gc.collect()  # it survives into the oldest generation, which only a full pass looks at
    del garbage  # unreachable now, but a cycle: only the collector frees it
    before = detect_threads()
    with TestClient(create_app(settings)) as client:
        assert gone() is None  # collected before the freeze, not kept until shutdown
        client.app.state.ingestor._examiner.submit(lambda: None).result()  # its thread started
        assert len(detect_threads()) == len(before) + 1
    assert detect_threads() == before


def test_the_metrics_directory_made_for_workers_is_removed(tmp_path, monkeypatch):
    monkeypatch.delenv(MULTIPROC_DIR, raising=False)
    with shared_between_workers() as made:
        (Path(made) / "counter_1.db").write_bytes(b"")
        assert os.environ[MULTIPROC_DIR] == made
    assert not Path(made).exists() and MULTIPROC_DIR not in os.environ

    given = tmp_path / "operator"
    given.mkdir()
    (given / "counter_9.db").write_bytes(b"")  # an earlier run's
    (given / "notes.txt").write_text("kept")
    monkeypatch.setenv(MULTIPROC_DIR, str(given))
    with shared_between_workers() as path:
        assert path == str(given) and not (given / "counter_9.db").exists()
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"] and os.environ[MULTIPROC_DIR] == str(given)
