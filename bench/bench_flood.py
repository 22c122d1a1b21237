"""Detection's cost of a hostile batch: one sensor's batch showing many distinct addresses, alone and in
a group with other sensors' ordinary batches.

    .venv/bin/python bench/bench_flood.py [--addresses 150000] [--shape addresses|public|functions|dns]
                                          [--others 31] [--learning] [--minutes 1] [--core-src DIR]

The crafted batch (``--shape``) holds, for ``--addresses`` distinct values: ``addresses``, one answered
flow from each of as many site addresses (and MACs) to one PLC — each a new device and a new link;
``public``, one site device's flows to as many public addresses (``internet_exposure`` per pair);
``functions``, as many distinct Modbus functions between two devices (``new_ot_function``); ``dns``, as
many distinct names under a listed domain, each asked by its own site address (``indicator_match`` per
pair, beside the new devices and links). The tenant detects (no learning period; ``--learning``: it
learns instead); ``--minutes`` sends the same crafted batch in as many consecutive minutes (a steady
flood: each minute's batch reaches the keys after the ones whose alerts are open). It goes through
``core.ingest.Ingestor`` (embedded chDB, detection on) as the ingest route runs it — once alone, once
in a group with ``--others`` other tenants' sensors' plant batches — and ``Detector.examine`` and
``write`` are timed (thread CPU, wall) beside the whole group's store (what every sensor of the group
waits for). ``--core-src DIR`` takes ``core`` and ``sensor`` from another tree (a git worktree of an
earlier commit) to compare.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from itertools import product
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]


def crafted(addresses: int, start: datetime):
    """A wire batch of ``addresses`` answered flows, each from its own 10.x address and MAC to one PLC."""
    from sensor import wire

    n = addresses
    ips = [f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(n)]
    macs = [f"02:00:{i >> 24 & 255:02x}:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}" for i in range(n)]
    ts = pa.array([start + timedelta(seconds=i % 50) for i in range(n)], pa.timestamp("us", "UTC"))

    def same(value, typ):
        return pa.array([value] * n, typ)

    schema = wire.empty_table("flows").schema
    columns = {"ts": ts, "ts_end": ts, "uid": pa.array([f"C{i}" for i in range(n)]), "community_id": same("", pa.string()),
               "vlan": same(0, None), "orig_h": pa.array(ips), "orig_p": same(40000, None), "resp_h": same("10.0.0.2", None),
               "resp_p": same(502, None), "proto": same("tcp", None), "ethertype": same(0x0800, None),
               "service": same("modbus", None), "duration": same(0.1, None), "orig_bytes": same(12, None),
               "resp_bytes": same(12, None), "orig_pkts": same(2, None), "resp_pkts": same(2, None),
               "orig_ip_bytes": same(92, None), "resp_ip_bytes": same(92, None), "conn_state": same("SF", None),
               "history": same("ShADadFf", None), "orig_l2_addr": pa.array(macs),
               "resp_l2_addr": same("00:1b:1b:00:00:02", None), "final": same(True, None)}
    flows = pa.table([columns[f.name].cast(f.type) if columns[f.name].type != f.type else columns[f.name]
                      for f in schema], schema=schema)
    tables = {"flows": flows, "events": wire.empty_table("events"), "observations": wire.empty_table("observations")}
    return wire.Batch(start, start + timedelta(minutes=1), tables, {"packets": 4 * n}, sensor="SN-flood")


def events_batch(rows: list[dict], flows: list[dict], start: datetime):
    from sensor import wire

    tables = {"flows": wire.table_from_rows("flows", flows), "events": wire.table_from_rows("events", rows),
              "observations": wire.empty_table("observations")}
    return wire.Batch(start, start + timedelta(minutes=1), tables, {"packets": 2 * len(flows)}, sensor="SN-flood")


def _flow(orig: str, resp: str, start: datetime, i: int, service: str, proto: str = "tcp", port: int = 502) -> dict:
    return dict(ts=start, ts_end=start + timedelta(seconds=1), uid=f"C{i}", community_id="", vlan=0, orig_h=orig,
                orig_p=40000, resp_h=resp, resp_p=port, proto=proto, ethertype=0x0800, service=service, duration=1.0,
                orig_bytes=12, resp_bytes=12, orig_pkts=2, resp_pkts=2, orig_ip_bytes=92, resp_ip_bytes=92,
                conn_state="SF", history="ShADadFf", orig_l2_addr="00:1b:1b:00:00:05",
                resp_l2_addr="00:1b:1b:00:00:fe", final=True)


def shaped(shape: str, n: int, start: datetime):
    """The crafted batch of ``shape`` (the module's docstring) with ``n`` distinct values."""
    if shape == "addresses":
        return crafted(n, start)
    if shape == "public":
        return events_batch([], [_flow("10.0.0.5", f"23.{1 + i // 60000}.{i // 240 % 250}.{1 + i % 240}", start, i,
                                       "ssl", port=443) for i in range(n)], start)
    if shape == "functions":
        flows = [_flow("10.0.0.5", "10.0.0.2", start, 0, "modbus")]
        return events_batch([dict(ts=start, ts_end=start, count=1, uid="C0", orig_h="10.0.0.5", resp_h="10.0.0.2",
                                  resp_p=502, protocol="modbus", action=f"function_{i}", status="ok", attrs={})
                             for i in range(n)], flows, start)
    clients = [f"10.{1 + i // 60000}.{i // 240 % 250}.{1 + i % 240}" for i in range(n)]
    return events_batch([dict(ts=start, ts_end=start, count=1, uid=f"C{i}", orig_h=ip, resp_h="10.0.0.53",
                              resp_p=53, protocol="dns", action="query", status="NOERROR",
                              attrs={"qname": f"h{i}.{LISTED_DOMAIN}"}) for i, ip in enumerate(clients)],
                        [_flow(ip, "10.0.0.53", start, i, "dns", "udp", 53) for i, ip in enumerate(clients)], start)


LISTED_DOMAIN = "flood.example"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addresses", type=int, default=150_000)
    ap.add_argument("--shape", choices=("addresses", "public", "functions", "dns"), default="addresses")
    ap.add_argument("--others", type=int, default=31, help="other sensors' batches in the group")
    ap.add_argument("--learning", action="store_true", help="the flooded tenant is learning")
    ap.add_argument("--minutes", type=int, default=1, help="the crafted batch again in as many minutes")
    ap.add_argument("--core-src", type=Path, help="take core and sensor from this source tree")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench-flood")
    args = ap.parse_args()
    sys.path.insert(0, str((args.core_src or ROOT).resolve()))
    sys.path.insert(1, str(ROOT / "bench"))
    from core.access import accounts
    from core.detect.engine import Detector
    from core.forward import outbox  # noqa: F401 (its tables: detection queues alerts for forwarding)
    from core.ingest import Ingestor, _Pending
    from core.store.clickhouse import ClickHouseStore
    from core.store.controlplane import ControlPlane
    from plant_batches import plant_batches
    from sensor import wire

    args.workdir.mkdir(parents=True, exist_ok=True)
    plant = plant_batches(args.workdir, 20_000, 60.0, 1)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    print(f"core from {(args.core_src or ROOT).resolve()}; crafted batch of {args.addresses:,} {args.shape}, "
          f"{'learning' if args.learning else 'detecting'}; groups with {args.others} plant batches")
    with tempfile.TemporaryDirectory(dir=args.workdir) as data:
        cp = ControlPlane(f"sqlite:///{data}/control.db")
        cp.create_schema()
        with cp.sessions() as db:
            def sensor(name: str, hours: float | None):
                owner = accounts.create_tenant(db, name)
                owner.learning_hours = hours
                made, _ = accounts.create_sensor(db, owner, f"SN-{name}")
                db.flush()
                return owner.id, made.id
            flooded = [sensor(f"flood{i}", 1e6 if args.learning else 0) for i in range(2)]
            others = [sensor(f"plant{i}", None) for i in range(args.others)]
        with ClickHouseStore(f"chdb://{data}/clickhouse") as ch:
            ch.migrate()
            ch.insert_rows("indicators", [{"tenant_id": 0, "type": "domain", "value": LISTED_DOMAIN, "note": "",
                                           "source": "bench"}])
            detector = Detector(ch, cp)
            ingestor = Ingestor(ch, detector)
            spent: dict[str, list[float]] = {}
            for step in ("examine", "write"):
                real = getattr(detector, step)

                def timed(*a, real=real, step=step):
                    began, cpu = time.perf_counter(), time.thread_time()
                    try:
                        return real(*a)
                    finally:
                        spent[step] = [time.thread_time() - cpu, time.perf_counter() - began]
                setattr(detector, step, timed)
            runs = (("alone", flooded[0], 0), ("grouped", flooded[1], args.others))
            for (label, (tenant_id, sensor_id), group_size), minute in product(runs, range(args.minutes)):
                batch = wire.decode(wire.encode(shaped(args.shape, args.addresses, start + timedelta(minutes=minute))))
                group = [_Pending(tenant_id, sensor_id, batch)] + [
                    _Pending(t, s, replace(wire.decode(wire.encode(plant[0])), batch_id=str(uuid.uuid4())))
                    for t, s in others[:group_size]]
                began, cpu = time.perf_counter(), time.process_time()
                ingestor._store(group)
                wall, cpu = time.perf_counter() - began, time.process_time() - cpu
                assert [p.status for p in group] == ["stored"] * len(group), [p.status for p in group]
                alerts = ch.query("SELECT kind, count() AS n FROM alerts FINAL WHERE tenant_id = {t:UInt32} "
                                  "GROUP BY kind ORDER BY kind", {"t": tenant_id})
                shown = ", ".join(f"{r['kind']} {r['n']:,}" for r in alerts)
                print(f"{label:>8} ({len(group)} batches, minute {minute}): "
                      f"examine {spent['examine'][0]:.2f} s CPU ({spent['examine'][1]:.2f} s wall), write {spent['write'][0]:.2f} s CPU "
                      f"({spent['write'][1]:.2f} s wall); the group's store {wall:.2f} s wall, {cpu:.2f} s process CPU; "
                      f"alerts {shown or 'none'}")
            ingestor.close()
        cp.close()


if __name__ == "__main__":
    main()
