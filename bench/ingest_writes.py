"""What one ingest group writes: its ClickHouse calls, the parts each table and view gets, their files,
and the deduplication log entries.

    .venv/bin/python bench/ingest_writes.py [--packets 100000] [--interval 60] [--sensors 32] [--groups 3]
                                            [--core-src DIR]

The simulated plant as wire batches of ``--interval`` seconds; ``--sensors`` sensors (over four
tenants, detection on, learning) each send their own copy. Batch i of every sensor is stored as one group
(``Ingestor._store``, as the group's leader calls it), ``--groups`` groups one after another, with the
store's merges stopped so that every part an insert wrote is still there to be counted. Printed per
group: each call the ingest made, then per table the parts created (system.parts), their
type, files and rows, and the lines its deduplication log grew by; then chDB's own counters
(system.events) over the group.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANTS = 4
EVENTS = ("InsertQuery", "InsertedRows", "MergeTreeDataWriterBlocks", "DuplicatedInsertedBlocks",
          "FileOpen", "FileSync", "WriteBufferFromFileDescriptorWrite", "SelectQuery")


def parts(ch) -> dict[tuple[str, str], dict]:
    """Every part by (table, name) (with merges stopped, a new one is an insert's: level 1 in the
    Replacing, Summing and Aggregating tables, which sort and fold an insert's rows)."""
    return {(r["table"], r["name"]): r for r in ch.query(
        "SELECT table, name, part_type, path, rows FROM system.parts WHERE database = currentDatabase()")}


def dedup_lines(ch) -> dict[str, int]:
    """Lines in each MergeTree table's deduplication log (one a remembered insert, and the log's own)."""
    out = {}
    for r in ch.query("SELECT name, data_paths FROM system.tables WHERE database = currentDatabase() "
                      "AND engine LIKE '%MergeTree'"):
        logs = [f for p in r["data_paths"] for f in Path(p, "deduplication_logs").glob("*")]
        out[r["name"]] = sum(len(f.read_bytes().splitlines()) for f in logs)
    return out


def events(ch) -> dict[str, int]:
    return {r["event"]: r["value"] for r in ch.query("SELECT event, value FROM system.events")}


def recorded(ch, calls: list[str]) -> None:
    """Record the table each of ``ch``'s calls writes or reads (its statement's first INTO/FROM)."""
    for method in ("query", "command", "insert_arrow", "insert_rows"):
        real = getattr(ch, method)

        def wrapper(*args, _real=real, _method=method, **kwargs):
            if _method.startswith("insert"):
                calls.append(f"{_method} {args[0]}")
            elif not args[0].lstrip().upper().startswith("SELECT") or "system." not in args[0]:
                found = re.search(r"(?:INTO|FROM)\s+(?:\(\s*SELECT\s.*?\sFROM\s+)?(\w+)", args[0], re.S)
                calls.append(f"{_method} {found.group(1) if found else args[0][:40]}")
            return _real(*args, **kwargs)
        setattr(ch, method, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=60.0, help="batch interval, seconds")
    ap.add_argument("--sensors", type=int, default=32)
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--core-src", type=Path, help="take core and sensor from this source tree")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench-ingest")
    args = ap.parse_args()
    sys.path.insert(0, str((args.core_src or ROOT).resolve()))
    from core.access import accounts
    from core.detect.engine import Detector
    from core.forward import outbox  # noqa: F401 (its tables: detection queues alerts for forwarding)
    from core.ingest import Ingestor, _Pending
    from core.store.clickhouse import ClickHouseStore
    from core.store.controlplane import ControlPlane
    from sensor import wire
    from plant_batches import plant_batches

    args.workdir.mkdir(parents=True, exist_ok=True)
    batches = plant_batches(args.workdir, args.packets, args.interval, 1)[:args.groups]
    with tempfile.TemporaryDirectory(dir=args.workdir) as data:
        cp = ControlPlane(f"sqlite:///{data}/control.db")
        cp.create_schema()
        with cp.sessions() as db:
            owners = [accounts.create_tenant(db, f"bench{i}") for i in range(TENANTS)]
            sensors = [accounts.create_sensor(db, owners[i % TENANTS], f"SN-{i}")[0] for i in range(args.sensors)]
            db.commit()
            ids = [(s.tenant_id, s.id) for s in sensors]
        with ClickHouseStore(f"chdb://{data}/clickhouse") as ch:
            ch.migrate()
            ch.command("SYSTEM STOP MERGES")
            ingestor = Ingestor(ch, Detector(ch, cp))
            for g, batch in enumerate(batches):
                group = [_Pending(t, s, wire.parse(wire.encode(wire.Batch(
                    batch.interval_start, batch.interval_end, batch.tables, batch.counters, sensor=f"SN-{i}"))))
                    for i, (t, s) in enumerate(ids)]
                before_parts, before_dedup, before_events = parts(ch), dedup_lines(ch), events(ch)
                calls: list[str] = []
                recorded(ch, calls)
                ingestor._store(group)
                for method in ("query", "command", "insert_arrow", "insert_rows"):
                    delattr(ch, method)  # the class's own again
                assert all(p.status == "stored" for p in group)
                report(g, len(group), sum(p.rows[n] for p in group for n in wire.TABLES), calls,
                       before_parts, parts(ch), before_dedup, dedup_lines(ch), before_events, events(ch))
            ingestor.close()
        cp.close()


def report(g, size, rows, calls, parts0, parts1, dedup0, dedup1, events0, events1) -> None:
    print(f"\ngroup {g + 1}: {size} batches, {rows:,} rows; {len(calls)} calls:")
    for call, n in Counter(calls).items():
        print(f"  {n} x {call}")
    new = defaultdict(list)
    for key in parts1.keys() - parts0.keys():
        new[key[0]].append(parts1[key])
    print(f"{'table':<28}{'parts':>6}  {'type':<8}{'files/part':>11}{'rows':>8}{'dedup log +':>12}")
    for table in sorted(new.keys() | {t for t in dedup1 if dedup1[t] != dedup0.get(t, 0)}):
        made = new.get(table, [])
        files = sorted({len(list(Path(p["path"]).iterdir())) for p in made})
        print(f"{table:<28}{len(made):>6}  {','.join(sorted({p['part_type'] for p in made})):<8}"
              f"{'/'.join(map(str, files)):>11}{sum(p['rows'] for p in made):>8}"
              f"{dedup1.get(table, 0) - dedup0.get(table, 0):>12}")
    total_files = sum(len(list(Path(p['path']).iterdir())) for made in new.values() for p in made)
    print(f"{'all':<28}{sum(map(len, new.values())):>6}  {'':<8}{total_files:>11} files"
          f"{sum(dedup1.values()) - sum(dedup0.values()):>20} dedup lines")
    print("  system.events: " + ", ".join(f"{e} {events1.get(e, 0) - events0.get(e, 0)}" for e in EVENTS))


if __name__ == "__main__":
    main()
