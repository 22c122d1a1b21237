"""Ingest over HTTP with several connections, beside a bare insert of the same rows (the ceiling).

    .venv/bin/python bench/bench_ingest.py [--packets 100000] [--interval 10] [--merge 1] [--sensors 24]
                                           [--connections 8] [--modes alone,group] [--profile] [--in-flight]
                                           [--core-src DIR] [--workdir DIR]

A simulated plant capture goes through the sensor pipeline into wire batches of ``--interval``
seconds; ``--merge K`` sends each K consecutive ones as one batch (larger batches from the same
capture: its rows, its interval from the first start to the last end). Each of ``--sensors`` sensors (over four tenants) sends its own copy of them (new batch
ids), in order, all sensors at once over at most ``--connections`` keep-alive HTTP connections
(``fleet_client.py``, an asyncio process of its own: 512 sensors in flight cost it little), to a real core
(``mieruka serve``, embedded ClickHouse, detection on) — twice: with group commit as shipped, and
with each batch stored on its own (MIERUKA_INGEST_GROUP_ROWS=1), as before group commit. The
ceiling is one bare ``clickhouse_connect`` insert per table of all the same rows (with the keys
ingest adds) into a fresh store with the same tables and views (filled in parallel, as the core
fills them), in this process. ``--core-src DIR`` runs the core from another source tree (a git
worktree of an earlier commit) to compare.

Printed: rows/s each way and the ratio to the ceiling (target >= 0.8), by the clock and per CPU
second the core (every thread) or the bare insert used — on a machine others share, the clock
swings with their load, CPU seconds much less. ``--profile`` records the
core with py-spy into WORKDIR/<mode>.txt (collapsed stacks of the busy threads, one line each);
``--in-flight`` samples the core's ``mieruka_ingest_in_flight_batches`` each second (uploads received
and not answered: waiting for an upload thread, parsing, in a group).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent  # the virtualenv's scripts (a worktree of this checkout has none)

from core.access import accounts  # noqa: E402
from core.ingest import INSERT_ORDER, INSERT_SETTINGS, with_keys  # noqa: E402
from core.store.clickhouse import ClickHouseStore  # noqa: E402
from core.store.controlplane import ControlPlane  # noqa: E402
from sensor import wire  # noqa: E402
from plant_batches import plant_batches  # noqa: E402

TENANTS = 4


def rows_of(batch: wire.Batch) -> int:
    return sum(batch.rows(name) for name in wire.TABLES)


def provision(data_dir: Path, sensors: int) -> list[tuple[int, int, str]]:
    """(tenant id, sensor id, token) of each sensor, in a fresh control plane."""
    cp = ControlPlane(f"sqlite:///{(data_dir / 'control.db').resolve()}")
    cp.create_schema()
    out = []
    with cp.sessions() as db:
        owners = [accounts.create_tenant(db, f"bench{i}") for i in range(TENANTS)]
        for i in range(sensors):
            sensor, token = accounts.create_sensor(db, owners[i % TENANTS], f"SN-{i}")
            out.append((owners[i % TENANTS].id, sensor.id, token))
        db.commit()
    cp.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_core(data_dir: Path, port: int, group_rows: int, source: Path | None) -> subprocess.Popen:
    """``mieruka serve`` on ``port``; with ``group_rows`` 0 the HTTP floor (``http_floor.py``) instead."""
    env = dict(os.environ, MIERUKA_DATA_DIR=str(data_dir), MIERUKA_PORT=str(port), MIERUKA_HOST="127.0.0.1",
               MIERUKA_RETENTION_RAW_DAYS="0", MIERUKA_INGEST_GROUP_ROWS=str(group_rows))
    if source:  # ahead of the installed (editable) tree
        env["PYTHONPATH"] = str(source.resolve())
    command = ([sys.executable, str(Path(__file__).with_name("http_floor.py")), str(port)] if not group_rows
               else [str(BIN / "mieruka"), "serve"])
    core = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "core.log", "wb"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return core
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    core.kill()
    raise SystemExit(f"the core did not start; see {data_dir / 'core.log'}")


def post_all(port: int, sensors: list[tuple[int, int, str]], bodies: list[list[bytes]], connections: int,
             workdir: Path) -> float:
    """Seconds to post every sensor's batches, in order per sensor, every sensor at once over at most
    ``connections`` connections, from a client process of its own (``fleet_client.py``: asyncio, so
    hundreds of sensors' uploads are in flight for little CPU)."""
    path = workdir / "bodies.pickle"
    with open(path, "wb") as f:
        pickle.dump([(token, mine) for (_, _, token), mine in zip(sensors, bodies)], f)
    client = subprocess.run([sys.executable, str(Path(__file__).with_name("fleet_client.py")), str(port), str(path),
                             str(connections)], capture_output=True, text=True)
    path.unlink()
    if client.returncode:
        raise SystemExit(f"batches not stored: {client.stdout}{client.stderr[-2000:]}")
    done = json.loads(client.stdout)
    print(f"  client: {done['cpu']:.1f} CPU s, {done['resent']} batches resent (their connection failed)")
    return done["seconds"]


def metric(port: int, name: str) -> dict[tuple[str, str | None], float]:
    """The samples of one metric family on the core's /metrics, by (sample name, ``le`` label)."""
    return {(s.name, s.labels.get("le")): s.value
            for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            if family.name == name for s in family.samples}


def group_sizes(port: int) -> str:
    """How the core grouped the batches, from its /metrics."""
    found = metric(port, "mieruka_ingest_group_batches")
    groups, batches = found[("mieruka_ingest_group_batches_count", None)], found[("mieruka_ingest_group_batches_sum", None)]
    return f"{batches:.0f} batches in {groups:.0f} groups ({batches / max(groups, 1):.1f} per group)"


class InFlight(threading.Thread):
    """Samples the batches in the core (received, not answered yet) once a second while uploads run."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.seen, self.done = port, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(1):
            self.seen.append(metric(self.port, "mieruka_ingest_in_flight_batches")[
                ("mieruka_ingest_in_flight_batches", None)])

    def stop(self) -> str:
        self.done.set()
        self.join()
        return (f"batches in the core, sampled each second: median {statistics.median(self.seen or [0]):.0f}, "
                f"max {max(self.seen or [0]):.0f}")


def core_rate(workdir: Path, name: str, batches: list[wire.Batch], args, group_rows: int) -> float:
    data_dir = workdir / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    sensors = provision(data_dir, args.sensors)
    bodies = [[wire.encode(wire.Batch(b.interval_start, b.interval_end, b.tables, b.counters, sensor=f"SN-{s}"))
               for b in batches] for s in range(args.sensors)]
    port = free_port()
    core = run_core(data_dir, port, group_rows, args.core_src)
    spy = subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(core.pid), "--nonblocking",
                            "--rate", "100", "--format", "raw", "-o", str(workdir / f"{name}.txt")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if args.profile else None
    try:
        sampler = InFlight(port) if args.in_flight and group_rows else None
        cpu = cpu_seconds(core.pid)
        if sampler:
            sampler.start()
        elapsed = post_all(port, sensors, bodies, args.connections, data_dir)
        cpu = cpu_seconds(core.pid) - cpu
        if sampler:
            print(f"  {name}: {sampler.stop()}")
        if group_rows:
            print(f"  {name}: {group_sizes(port)}")
    finally:
        if spy:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(60)
        core.terminate()
        core.wait(30)
    rows = args.sensors * sum(map(rows_of, batches))
    return rows / elapsed, rows / cpu if cpu else float("inf")  # a tiny run can take under a clock tick


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ceiling_rate(workdir: Path, batches: list[wire.Batch], sensors: int) -> tuple[float, float]:
    """Rows/s and rows per CPU second of one bare insert per table of every sensor's rows (keys added
    as ingest adds them)."""
    data_dir = workdir / "bare"
    shutil.rmtree(data_dir, ignore_errors=True)
    store = ClickHouseStore(f"chdb://{data_dir}").open()
    store.migrate()
    tables = {name: with_keys(name, [(b, 1 + s % TENANTS, 1 + s, 0) for s in range(sensors) for b in batches
                                     if b.rows(name)])
              for name in INSERT_ORDER}
    began, cpu = time.perf_counter(), time.process_time()
    for name in INSERT_ORDER:
        store.client.insert_arrow(name, tables[name], settings=INSERT_SETTINGS)  # the same views as the core
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    store.close()
    rows = sensors * sum(map(rows_of, batches))
    return rows / elapsed, rows / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=10.0, help="batch interval, seconds")
    ap.add_argument("--merge", type=int, default=1, help="capture batches per batch sent")
    ap.add_argument("--sensors", type=int, default=24)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--modes", default="alone,group", help="the core's ways to run, of: alone, group, floor")
    ap.add_argument("--profile", action="store_true", help="record the core with py-spy")
    ap.add_argument("--in-flight", action="store_true", help="sample the batches in the core each second")
    ap.add_argument("--core-src", type=Path, help="run the core from this source tree")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench-ingest")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    batches = plant_batches(args.workdir, args.packets, args.interval, args.merge)
    per_sensor = sum(map(rows_of, batches))
    print(f"{args.sensors} sensors x {len(batches)} batches, {per_sensor / len(batches):.0f} rows per batch, "
          f"{args.sensors * per_sensor:,} rows, {args.connections} connections")
    bare, bare_cpu = ceiling_rate(args.workdir, batches, args.sensors)
    print(f"ceiling (one bare insert per table)  {bare:>10,.0f} rows/s {bare_cpu:>10,.0f} rows/CPU s")
    modes = {"alone": ("each batch alone", 1), "group": ("group commit", 500_000), "floor": ("HTTP floor, nothing stored", 0)}
    for name, group_rows in (modes[m] for m in args.modes.split(",")):
        rate, per_cpu = core_rate(args.workdir, name.replace(" ", "-"), batches, args, group_rows)
        print(f"core, {name:<30} {rate:>10,.0f} rows/s {per_cpu:>10,.0f} rows/CPU s   "
              f"{rate / bare:.2f} / {per_cpu / bare_cpu:.2f} of the ceiling")


if __name__ == "__main__":
    main()
