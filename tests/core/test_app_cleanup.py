"""What an app or a multi-worker serve makes for itself goes when it stops: detection's thread, the
metric files' temporary directory (never a directory the operator gave)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from core.api.app import create_app
from core.api.metrics import MULTIPROC_DIR, shared_between_workers


def detect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("detect")]


def test_a_stopped_app_leaves_no_detection_thread(settings):
    before = detect_threads()
    with TestClient(create_app(settings)) as client:
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
