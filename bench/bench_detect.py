"""Ingest throughput with detection on, as a ratio to detection off, in the same run.

    .venv/bin/python bench/bench_detect.py [--packets 300000] [--interval 60] [--rounds 2] [--workdir DIR]

A simulated plant capture (sensor.simulate.write_pcap, with its risky traffic) goes through the
sensor pipeline into wire-encoded batches. Everything is ingested into one embedded ClickHouse
(chDB) through ``core.ingest.Ingestor`` — decode + store (+ detect), as the ingest route runs it —
for a tenant without detection and one with it, batch by batch in alternating order (so both see
the same load on a shared machine). Two cases:

- after learning: each tenant first ingests the capture untimed (the detecting one learns it, a
  one-hour learning period), then the timed run ingests the same capture two hours later (new
  batch ids): the steady state of a plant whose devices and links are known, where the risky
  traffic keeps folding into open alerts;
- nothing learned: the timed run is the tenant's first data with no learning period, so every
  device, link and function is new (the worst case: every batch writes alerts).

Printed: rows per second each way and the ratio on ÷ off per case (target >= 0.8), the same per CPU
second of the process (chDB's threads included; on a shared machine the clock swings with other people's
load, the CPU much less), and the alerts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

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


def shifted(batch: wire.Batch, by: timedelta) -> wire.Batch:
    """The batch ``by`` later, as a new batch (new id)."""
    tables = {}
    for name, table in batch.tables.items():
        for column in ("ts", "ts_end"):
            if column in table.column_names:
                moved = pc.add(table[column], pa.scalar(by, pa.duration("us")))
                table = table.set_column(table.column_names.index(column), column, moved.cast(wire.TS))
        tables[name] = table
    return wire.Batch(batch.interval_start + by, batch.interval_end + by, tables, batch.counters, sensor=batch.sensor)


def interleaved(ingestors: dict, tenants: dict, bodies: list[bytes], totals: dict) -> None:
    """Each batch into both tenants, alternating which goes first, so both see the same load."""
    for i, body in enumerate(bodies):
        for label in ("off", "on") if i % 2 == 0 else ("on", "off"):
            began, cpu = time.perf_counter(), time.process_time()
            assert ingestors[label].ingest(*tenants[label], body).status == "stored"
            totals[label][0] += time.perf_counter() - began
            totals[label][1] += time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--interval", type=float, default=60.0, help="batch interval, seconds")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"plant-{args.packets}.pcap"
    if not path.exists():
        print(f"writing {path} …", flush=True)
        write_pcap(path, packets=args.packets, seed=1)
    batches = list(iter_batches([path], args.interval, sensor="SN-bench", observer=Observer()))
    first = [wire.encode(b) for b in batches]
    later = [wire.encode(shifted(b, timedelta(hours=2))) for b in batches]
    rows = sum(b.rows(name) for b in batches for name in wire.TABLES)
    span_h = (batches[-1].interval_end - batches[0].interval_start).total_seconds() / 3600
    print(f"capture: {args.packets:,} packets, {len(batches)} batches of {args.interval:g} s over {span_h:.2f} h, "
          f"{rows:,} rows")
    print(f"{'case':<18}{'detection':>10}{'seconds':>10}{'rows/s':>10}{'on ÷ off':>10}{'CPU s':>8}{'rows/CPU s':>12}"
          f"{'on ÷ off':>10}  alerts")

    with tempfile.TemporaryDirectory() as data:
        cp = ControlPlane(f"sqlite:///{data}/controlplane.db")
        cp.create_schema()
        with ClickHouseStore(f"chdb://{data}/clickhouse") as ch:
            ch.migrate()
            ingestors = {"off": Ingestor(ch), "on": Ingestor(ch, Detector(ch, cp))}
            for case, learning_hours, warmup, bodies in (("after learning", 1, first, later),
                                                          ("nothing learned", 0, [], first)):
                totals = {"off": [0.0, 0.0], "on": [0.0, 0.0]}
                for r in range(args.rounds):
                    tenants = {label: tenant(cp, f"{case}-{label}{r}", learning_hours) for label in ingestors}
                    interleaved(ingestors, tenants, warmup, {"off": [0.0, 0.0], "on": [0.0, 0.0]})
                    interleaved(ingestors, tenants, bodies, totals)
                found = alerts.list_alerts(ch, tenants["on"][0], limit=1000)
                raised = f"{len(found)} ({', '.join(sorted({a['kind'] for a in found}))})"
                (off, off_cpu), (on, on_cpu) = ((rows * args.rounds / totals[k][0], rows * args.rounds / totals[k][1])
                                                for k in ("off", "on"))
                print(f"{case:<18}{'off':>10}{totals['off'][0]:>10.2f}{off:>10,.0f}{'':>10}{totals['off'][1]:>8.2f}"
                      f"{off_cpu:>12,.0f}")
                print(f"{case:<18}{'on':>10}{totals['on'][0]:>10.2f}{on:>10,.0f}{on / off:>10.2f}"
                      f"{totals['on'][1]:>8.2f}{on_cpu:>12,.0f}{on_cpu / off_cpu:>10.2f}  {raised}")
        cp.close()


if __name__ == "__main__":
    main()
