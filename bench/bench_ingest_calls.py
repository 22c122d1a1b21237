"""Where an ingest's time goes, in process: every ClickHouse call and decoding step timed.

    .venv/bin/python bench/bench_ingest_calls.py [--packets 100000] [--interval 60] [--merge 1] [--sensors 64]
                                                 [--learning-hours H] [--core-src DIR]

The simulated plant as wire batches of ``--interval`` seconds; each of ``--sensors`` sensors (over four
tenants) stores its own copy through ``core.ingest.Ingestor`` (embedded chDB, detection on) from a
thread of its own, in order (``--merge K``: each K consecutive batches sent as one) — as the ingest route runs it, without HTTP. Printed: rows/s and rows per
CPU second of the process, the groups, and per step (``wire`` decoding, detection, each kind of
ClickHouse call) its calls, wall time and the CPU time of the thread that made them (chDB's own
threads are not in that column). ``--learning-hours 0.05``: the sensors learn for the capture's first
three minutes and detect after them (by default they learn throughout). ``--core-src DIR`` takes ``core`` and ``sensor`` from another tree
(a git worktree of an earlier commit) to compare.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANTS = 4


def timed(obj, name: str, spent: dict, label: str | None = None) -> None:
    """Replace ``obj.name`` with a wrapper adding its calls, wall and thread CPU time to ``spent``."""
    real, guard = getattr(obj, name), threading.Lock()

    def wrapper(*args, **kwargs):
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            key = label or _call_kind(name, args)
            with guard:
                entry = spent[key]
                entry[0] += 1
                entry[1] += time.perf_counter() - began
                entry[2] += time.thread_time() - cpu
    setattr(obj, name, wrapper)


def _call_kind(method: str, args: tuple) -> str:
    """``insert_arrow flows``, ``query batches``: the method and the table it writes or reads first."""
    if method.startswith("insert"):
        return f"{method} {args[0]}"
    found = re.search(r"(?:INTO|FROM)\s+(?:\(\s*SELECT\s.*?\sFROM\s+)?(\w+)", args[0], re.S)
    return f"{method} {found.group(1) if found else args[0][:30]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=60.0, help="batch interval, seconds")
    ap.add_argument("--merge", type=int, default=1, help="capture batches per batch sent")
    ap.add_argument("--sensors", type=int, default=64)
    ap.add_argument("--learning-hours", type=float, help="the tenants' learning period (default 168: all learning)")
    ap.add_argument("--core-src", type=Path, help="take core and sensor from this source tree")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench-ingest")
    args = ap.parse_args()
    sys.path.insert(0, str((args.core_src or ROOT).resolve()))
    from core.access import accounts
    from core.detect.engine import Detector
    from core.forward import outbox  # noqa: F401 (its tables: detection queues alerts for forwarding)
    from core.ingest import Ingestor
    from core.store.clickhouse import ClickHouseStore
    from core.store.controlplane import ControlPlane
    from sensor import wire
    from plant_batches import plant_batches

    args.workdir.mkdir(parents=True, exist_ok=True)
    batches = plant_batches(args.workdir, args.packets, args.interval, args.merge)
    bodies = [[wire.encode(wire.Batch(b.interval_start, b.interval_end, b.tables, b.counters, sensor=f"SN-{s}"))
               for b in batches] for s in range(args.sensors)]
    rows = args.sensors * sum(b.rows(name) for b in batches for name in wire.TABLES)
    print(f"{args.sensors} sensors x {len(batches)} batches, {rows / args.sensors / len(batches):.0f} rows per batch, "
          f"{rows:,} rows; core from {(args.core_src or ROOT).resolve()}")

    spent: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    with tempfile.TemporaryDirectory(dir=args.workdir) as data:
        cp = ControlPlane(f"sqlite:///{data}/control.db")
        cp.create_schema()
        with cp.sessions() as db:
            owners = [accounts.create_tenant(db, f"bench{i}") for i in range(TENANTS)]
            for owner in owners:
                owner.learning_hours = args.learning_hours
            sensors = [accounts.create_sensor(db, owners[i % TENANTS], f"SN-{i}")[0] for i in range(args.sensors)]
            db.commit()
            ids = [(s.tenant_id, s.id) for s in sensors]
        with ClickHouseStore(f"chdb://{data}/clickhouse") as ch:
            ch.migrate()
            ingestor = Ingestor(ch, Detector(ch, cp))
            groups: list[int] = []
            ingestor.observe_group = groups.append
            for method in ("query", "insert_arrow", "insert_rows", "command"):
                timed(ch, method, spent)
            for step in ("decode", "parse", "complete"):  # decode alone before issue 15; parse + complete after
                if hasattr(wire, step):
                    timed(wire, step, spent, f"wire.{step}")
            for step in ("examine", "write"):
                timed(ingestor.detector, step, spent, f"detection {step}")

            def sensor(s: int) -> None:
                for body in bodies[s]:
                    assert ingestor.ingest(*ids[s], body).status == "stored"
            threads = [threading.Thread(target=sensor, args=(s,)) for s in range(args.sensors)]
            began, cpu = time.perf_counter(), time.process_time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            ingestor.close()
        cp.close()
    print(f"{rows / elapsed:,.0f} rows/s, {rows / cpu:,.0f} rows/CPU s ({elapsed:.1f} s, {cpu:.1f} CPU s); "
          f"{len(groups)} groups, {sum(groups) / max(len(groups), 1):.1f} batches per group")
    print(f"{'calls':>7}{'wall s':>9}{'thread CPU s':>14}  step")
    for key, (calls, wall, thread_cpu) in sorted(spent.items(), key=lambda kv: -kv[1][2]):
        print(f"{calls:>7}{wall:>9.2f}{thread_cpu:>14.2f}  {key}")


if __name__ == "__main__":
    main()
