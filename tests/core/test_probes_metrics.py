"""What an operator watches: liveness apart from readiness (503 when a store does not answer) and the
metrics — request time per route template, ClickHouse time per kind of call, ingest lag per sensor,
batches a sensor set aside, forwarding queues."""

from __future__ import annotations

import re

import httpx
import pytest
from coretest import bearer, make_batch, post_batch

from core.forward import destinations, outbox
from core.store.controlplane import Sensor
from sensor import wire


def broken():
    raise ConnectionError("store down")


@pytest.mark.parametrize("store", ["clickhouse", "controlplane"])
def test_readiness_fails_with_a_store_liveness_does_not(live, monkeypatch, store):
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/readyz").json() == {"status": "ok", "clickhouse": True, "controlplane": True}
        monkeypatch.setattr(getattr(live.app.state, store), "ping", broken)
        for path in ("/readyz", "/healthz"):
            r = http.get(path)
            assert r.status_code == 503, path
            assert r.json() == {"status": "unavailable", "clickhouse": store != "clickhouse",
                                "controlplane": store != "controlplane"}
        assert http.get("/livez").json() == {"status": "ok"}


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample of the Prometheus text (KeyError if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.rindex("}")])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise KeyError(f"{name}{labels}")


def test_metrics_an_operator_needs(live, live_tenants):
    acme, _ = live_tenants
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert post_batch(http, acme.sensor_token, wire.encode(make_batch())).status_code == 200
        http.get("/api/v1/assets", headers=bearer(acme.api_token))
        http.get("/api/v1/assets/10.0.0.2", headers=bearer(acme.api_token))
        with live.app.state.controlplane.session() as db:
            db.get(Sensor, acme.sensor_id).health = {"spool_rejected": 3}
            destination = destinations.add(db, acme.id, "siem", "udp://127.0.0.1:9", "cef")
            outbox.enqueue(db, acme.id, {"id": "a1", "severity": "high", "kind": "scan"},
                           {"id": "a2", "severity": "low", "kind": "scan"})
        text = http.get("/metrics").text
    assert sample(text, "mieruka_http_request_seconds_count", method="GET", route="/api/v1/assets",
                  status="2xx") == 1
    assert sample(text, "mieruka_http_request_seconds_count", method="GET", route="/api/v1/assets/{device}") == 1
    assert sample(text, "mieruka_http_request_seconds_count", method="POST", route="/api/v1/ingest",
                  status="2xx") == 1
    assert "10.0.0.2" not in text  # routes by template, never a raw path
    assert sample(text, "mieruka_clickhouse_seconds_count", kind="query") > 0
    assert sample(text, "mieruka_clickhouse_seconds_count", kind="insert") >= 4  # three tables and the marker
    assert sample(text, "mieruka_ingest_lag_seconds", sensor_id=str(acme.sensor_id)) > 0  # a 2024 batch
    assert sample(text, "mieruka_sensor_upload_age_seconds", sensor_id=str(acme.sensor_id)) >= 0
    assert sample(text, "mieruka_sensor_batches_set_aside", sensor_id=str(acme.sensor_id)) == 3
    assert sample(text, "mieruka_forward_queue_depth", destination_id=str(destination.id)) == 2
    assert sample(text, "mieruka_forward_queue_oldest_seconds", destination_id=str(destination.id)) >= 0
