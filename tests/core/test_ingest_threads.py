"""Uploads waiting for their group wait in threads of their own, one per upload: with more uploads
held than the pool every other route runs in has threads (anyio's 40), the API still answers (a real
uvicorn server).
The held uploads then fail (the store is down) so the test need not store 48 batches one by one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from coretest import T0, bearer, make_batch, post_batch
from runtest import eventually

from core.access import accounts
from sensor import wire

HELD = 48  # more than anyio's default thread pool (40)


def test_held_uploads_leave_the_other_routes_their_threads(live, live_tenants, monkeypatch):
    acme, _ = live_tenants
    group, metrics = live.app.state.ingestor._group, live.app.state.metrics
    release = threading.Event()

    def held(batches):  # the first group waits, every later upload queues behind it; then all fail fast
        release.wait(60)
        raise ConnectionError("store down")
    monkeypatch.setattr(group, "_store", held)

    def upload(i: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=90) as http:
            return post_batch(http, acme.sensor_token, wire.encode(make_batch(start=T0 + timedelta(minutes=i))))

    with ThreadPoolExecutor(HELD) as pool:
        try:
            uploads = [pool.submit(upload, i) for i in range(HELD)]
            eventually(lambda: metrics.registry.get_sample_value("mieruka_ingest_in_flight_batches") == HELD)
            began = time.monotonic()
            page = httpx.get(f"{live.url}/api/v1/assets", headers=bearer(acme.api_token), timeout=15)
            answered_in = time.monotonic() - began
        finally:
            release.set()
        answers = [u.result() for u in uploads]
    assert page.status_code == 200 and answered_in < 10
    assert [a.status_code for a in answers] == [503] * HELD  # each answered: nothing stored, retry


def test_every_held_upload_queues_for_the_next_group(live, monkeypatch):
    """Uploads of more sensors than 128 (the upload threads there once were) all wait in the next group:
    groups are bounded by the bytes uploads hold (core.ingest.WAITING_BYTES), not by a count of threads."""
    many = 160
    with live.app.state.controlplane.sessions() as db:
        owner = accounts.create_tenant(db, "fleet")
        tokens = [accounts.create_sensor(db, owner, f"SN-{i}")[1] for i in range(many)]
    group, release = live.app.state.ingestor._group, threading.Event()

    def held(batches):
        release.wait(60)
        raise ConnectionError("store down")
    monkeypatch.setattr(group, "_store", held)

    def upload(token: str) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=90) as http:
            return post_batch(http, token, wire.encode(make_batch()))

    with ThreadPoolExecutor(many) as pool:
        try:
            uploads = [pool.submit(upload, token) for token in tokens]
            queued = eventually(lambda: len(group._queue) == many - 1 or None, timeout=30)
        finally:
            release.set()
        answers = [u.result() for u in uploads]
    assert queued and [a.status_code for a in answers] == [503] * many
