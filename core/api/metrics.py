"""Prometheus metrics of one app instance (own registry, so apps in one process don't mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.batches = Counter(
            "mieruka_ingest_batches",
            "Batches accepted, by result (stored, duplicate)",
            ["result"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "mieruka_ingest_rejected",
            "Batches rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.rows = Counter(
            "mieruka_ingest_rows",
            "Rows stored, by table",
            ["table"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mieruka_ingest_seconds",
            "Time to validate and store a batch",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
