"""/metrics over several worker processes: each worker counts in its own files in
PROMETHEUS_MULTIPROC_DIR and one scrape of any of them shows the sum.

``mieruka serve --workers N`` needs a ClickHouse server, which this box lacks, so two real
``mieruka serve`` processes (each with its embedded ClickHouse, one control plane) share one
metrics directory the way N workers do; batches are posted to each and one of them is scraped.
"""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
import pytest
from coretest import T0, make_batch, post_batch, provision_in
from pgtest import controlplane_url
from prometheus_client.parser import text_string_to_metric_families
from runtest import CORE_CLI, Process, eventually, free_port

from core.store.controlplane import ControlPlane
from sensor import wire


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value of a Prometheus text exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


class Worker:
    """A ``mieruka serve`` process with its own embedded ClickHouse and the shared control plane."""

    def __init__(self, data_dir, database_url: str, metrics_dir) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MIERUKA_DATA_DIR=str(data_dir), MIERUKA_DATABASE_URL=database_url,
                   MIERUKA_HOST="127.0.0.1", MIERUKA_PORT=str(self.port), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        self.process = Process([CORE_CLI, "serve"], env)

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return self.process.proc.poll() is not None  # exited: eventually's assert shows why


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    metrics_dir = root / "metrics"
    metrics_dir.mkdir()
    database_url = controlplane_url(root)
    controlplane = ControlPlane(database_url)
    controlplane.create_schema()
    tenant = provision_in(controlplane, "acme")
    controlplane.close()
    pair = [Worker(root / f"w{i}", database_url, metrics_dir) for i in (1, 2)]
    try:
        for worker in pair:
            eventually(worker.ready, timeout=120)
            assert worker.process.proc.poll() is None, worker.process.log
        yield tenant, pair, metrics_dir
    finally:
        for worker in pair:
            worker.process.kill()


def test_one_scrape_sums_every_worker(workers):
    tenant, (first, second), metrics_dir = workers
    batches = [make_batch(start=T0 + timedelta(minutes=i)) for i in range(3)]
    rows = sum(b.rows("flows") for b in batches)
    for worker, batch in zip((first, second, second), batches):
        with httpx.Client(base_url=worker.url, timeout=60) as http:
            r = post_batch(http, tenant.sensor_token, wire.encode(batch))
            assert r.status_code == 200 and r.json()["status"] == "stored", r.text
    assert len(list(metrics_dir.glob("*.db"))) >= 2  # each process writes its own files
    for worker in (first, second):  # whichever worker answers the scrape
        text = httpx.get(f"{worker.url}/metrics", timeout=30).text
        assert value(text, "mieruka_ingest_batches_total", result="stored") == 3
        assert value(text, "mieruka_ingest_rows_total", table="flows") == rows
        assert value(text, "mieruka_ingest_seconds_count") == 3
        assert value(text, "mieruka_http_request_seconds_count", method="POST", route="/api/v1/ingest",
                     status="2xx") == 3
        assert value(text, "mieruka_ingest_in_flight_batches") == 0
        # a gauge is the value set last, by whichever worker: the sensor's latest batch's lag
        assert value(text, "mieruka_ingest_lag_seconds", sensor_id=str(tenant.sensor_id)) > 0
        assert value(text, "mieruka_sensor_upload_age_seconds", sensor_id=str(tenant.sensor_id)) >= 0

    second.process.stop()  # a worker that stops keeps its counts in the sums
    assert "Application shutdown complete" in second.process.log
    text = httpx.get(f"{first.url}/metrics", timeout=30).text
    assert value(text, "mieruka_ingest_batches_total", result="stored") == 3
    assert value(text, "mieruka_http_request_seconds_count", method="POST", route="/api/v1/ingest",
                 status="2xx") == 3
