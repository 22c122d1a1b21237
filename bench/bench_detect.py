"""Ingest throughput with detection on, as a ratio to detection off, in the same run.

    .venv/bin/python bench/bench_detect.py [--packets 300000] [--interval 10] [--rounds 2] [--workdir DIR]

A simulated plant capture (sensor.simulate.write_pcap, with its risky traffic) goes through the
sensor pipeline into wire-encoded batches. Each round ingests every batch twice into one embedded
ClickHouse (chDB) through ``core.ingest.Ingestor``: once for a tenant without detection and once for
a tenant with it (learning over the first half of the capture's data time, detecting after), in
alternating order across rounds. Timed: decode + store (+ detect) of every batch, as the ingest
route runs it. Printed: rows per second each way and the ratio on ÷ off (target >= 0.8), and the
alerts detection raised.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.access import accounts  # noqa: E402
from core.detect import store as alerts  # noqa: E402
from core.detect.engine import Detector  # noqa: E402
from core.forward import outbox  # noqa: E402,F401 (its tables: detection queues alerts for forwarding)
from core.ingest import Ingestor  # noqa: E402
from core.store.clickhouse import ClickHouseStore  # noqa: E402
from core.store.controlplane import ControlPlane  # noqa: E402
from sensor import wire  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402
from sensor.meter.pipeline import iter_batches  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402


def tenant(cp: ControlPlane, name: str, learning_hours: int | None) -> tuple[int, int]:
    with cp.sessions() as db:
        owner = accounts.create_tenant(db, name)
        owner.learning_hours = learning_hours
        sensor, _ = accounts.create_sensor(db, owner, f"SN-{name}")
        db.commit()
        return owner.id, sensor.id


def timed(ingestor: Ingestor, tenant_id: int, sensor_id: int, bodies: list[bytes]) -> float:
    began = time.perf_counter()
    for body in bodies:
        assert ingestor.ingest(tenant_id, sensor_id, body).status == "stored"
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--interval", type=float, default=10.0, help="batch interval, seconds")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"plant-{args.packets}.pcap"
    if not path.exists():
        print(f"writing {path} …", flush=True)
        write_pcap(path, packets=args.packets, seed=1)
    batches = list(iter_batches([path], args.interval, sensor="SN-bench", observer=Observer()))
    bodies = [wire.encode(b) for b in batches]
    rows = sum(b.rows(name) for b in batches for name in wire.TABLES)
    span_h = (batches[-1].interval_end - batches[0].interval_start).total_seconds() / 3600
    learning_hours = max(0, int(span_h / 2))  # whole hours: a short capture learns nothing
    print(f"capture: {args.packets:,} packets, {len(batches)} batches of {args.interval:g} s over {span_h:.2f} h, "
          f"{rows:,} rows; detection learns for {learning_hours} h")

    with tempfile.TemporaryDirectory() as data:
        cp = ControlPlane(f"sqlite:///{data}/controlplane.db")
        cp.create_schema()
        with ClickHouseStore(f"chdb://{data}/clickhouse") as ch:
            ch.migrate()
            plain, detecting = Ingestor(ch), Ingestor(ch, Detector(ch, cp))
            totals = {"off": 0.0, "on": 0.0}
            raised = 0
            for r in range(args.rounds):
                order = (("off", plain), ("on", detecting)) if r % 2 == 0 else (("on", detecting), ("off", plain))
                for label, ingestor in order:
                    tenant_id, sensor_id = tenant(cp, f"{label}{r}", learning_hours)
                    totals[label] += timed(ingestor, tenant_id, sensor_id, bodies)
                    if label == "on":
                        raised = alerts.count_alerts(ch, tenant_id)
                        kinds = sorted({a["kind"] for a in alerts.list_alerts(ch, tenant_id, limit=1000)})
        cp.close()
    total_rows = rows * args.rounds
    off, on = total_rows / totals["off"], total_rows / totals["on"]
    print(f"{'ingest':<22}{'seconds':>10}{'rows/s':>12}")
    print(f"{'detection off':<22}{totals['off']:>10.2f}{off:>12,.0f}")
    print(f"{'detection on':<22}{totals['on']:>10.2f}{on:>12,.0f}")
    print(f"ratio on ÷ off: {on / off:.2f} (target >= 0.8); alerts per run: {raised} ({', '.join(kinds)})")


if __name__ == "__main__":
    main()
