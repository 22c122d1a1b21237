"""Every page and API read at fleet scale: p50/p95 of each GET route against the same question asked of the
raw tables.

    .venv/bin/python bench/bench_core.py [--flows 100000000] [--events N] [--days 30] [--keep DIR] [--repeat 20]

1. Fills an embedded ClickHouse (chDB) with a month of a plant's data for one tenant (``--flows`` flow
   records, ``--events`` events — a tenth of the flows by default — observations, a commit marker per
   sensor and minute, a detection baseline, alerts) and two smaller tenants (a twentieth each), all
   through the real tables so the views fill the rollups (bench/plant_fill.py); imports the CISA
   advisories beside the checkout. Prints fill time, rows/s and every table's size on disk.
2. Asks the questions the pages answer of the raw ``flows``/``events``/``observations`` directly,
   ``--raw-repeat`` times each (median): what the rollups save.
3. Starts ``mieruka serve`` (uvicorn, one process, 127.0.0.1) over the data dir and times every GET
   route of the app that a user or a page serves (the route list is the one the tenant-isolation test
   derives from the app) plus a few filtered variants: one warm-up, then ``--repeat`` requests each
   (``--download-repeat`` for the CSV/Parquet/report downloads), with the server's CPU time per request
   (all its threads, from /proc: on a machine loaded by other work, a steadier measure than wall time).

``--keep DIR`` keeps the data dir; run again with the same sizes and the fill is skipped. ``--routes REGEX``
times only the routes whose label (path, or the variant's name) the pattern matches, and only their raw questions.
``--churn`` times a fleet at work: before every timed request a sensor of another tenant uploads a one-minute
batch through ``/api/v1/ingest`` (not timed): results the core keeps per tenant (core/analytics/kept.py) must
stay kept, and what reads every tenant (the data team's statistics) must not be recomputed per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "core"))

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

from coretest import OSECT_EXAMPLE, PASSWORD, bearer  # noqa: E402
from core.access import accounts, auth  # noqa: E402
from core.billing import contracts  # noqa: E402
from core.config import Settings  # noqa: E402
from core.store.clickhouse import ClickHouseStore  # noqa: E402
from core.store.controlplane import ApiToken, ControlPlane, Sensor, Tenant, User  # noqa: E402
from core.vulns.store import import_path  # noqa: E402
from plant_fill import Plant, fill  # noqa: E402
from sensor import wire  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402
from sensor.meter.pipeline import iter_batches  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402
from test_route_isolation import DATA_TEAM_ROUTES, QUERY_VALUES, READS, url  # noqa: E402

ADVISORIES = ROOT.parent / "shared" / "advisories" / "csaf"
ROLES = ("analyst", "admin", "billing", "datateam")
DEVICE = 1  # the big plant's device whose pages are timed: an S7 PLC
GOAL_MS = 300

# The questions the pages answer, asked of the raw tables ({tenant}, the day {start}–{end} before the
# newest data, {ip} the timed device).
RAW = {
    "traffic per minute (24 h)": """
        SELECT toStartOfMinute(ts_end) AS m, sum(orig_ip_bytes + resp_ip_bytes), sum(orig_pkts + resp_pkts)
        FROM flows WHERE tenant_id = {tenant:UInt32} AND ts_end >= {start:DateTime} AND ts_end < {end:DateTime}
        GROUP BY m ORDER BY m""",
    "totals (24 h)": """
        SELECT sum(orig_ip_bytes + resp_ip_bytes), sum(orig_pkts + resp_pkts), sum(new_flow) FROM flows
        WHERE tenant_id = {tenant:UInt32} AND ts_end >= {start:DateTime} AND ts_end < {end:DateTime}""",
    "protocols (24 h)": """
        SELECT service, sum(orig_ip_bytes + resp_ip_bytes) AS b FROM flows
        WHERE tenant_id = {tenant:UInt32} AND ts_end >= {start:DateTime} AND ts_end < {end:DateTime}
        GROUP BY service ORDER BY b DESC""",
    "talkers (24 h)": """
        SELECT orig_h, resp_h, sum(orig_ip_bytes + resp_ip_bytes) AS b FROM flows
        WHERE tenant_id = {tenant:UInt32} AND ts_end >= {start:DateTime} AND ts_end < {end:DateTime}
        GROUP BY orig_h, resp_h ORDER BY b DESC LIMIT 10""",
    "ledger (all time)": """
        SELECT host, min(first) AS first_seen, max(last) AS last_seen, groupUniqArray(service) AS services
        FROM (SELECT orig_h AS host, ts AS first, ts_end AS last, service FROM flows WHERE tenant_id = {tenant:UInt32}
              UNION ALL
              SELECT resp_h, ts, ts_end, service FROM flows WHERE tenant_id = {tenant:UInt32})
        GROUP BY host
        SETTINGS max_threads = 2""",
    "device facts (all time)": """
        SELECT mac, ip, attribute, source, argMax(value, ts), min(ts), max(ts) FROM observations
        WHERE tenant_id = {tenant:UInt32} GROUP BY mac, ip, attribute, source""",
    "device peers + 500 events": """
        SELECT (SELECT groupArray((peer, b)) FROM (SELECT if(orig_h = {ip:String}, resp_h, orig_h) AS peer,
                       sum(orig_ip_bytes + resp_ip_bytes) AS b FROM flows
                WHERE tenant_id = {tenant:UInt32} AND (orig_h = {ip:String} OR resp_h = {ip:String}) GROUP BY peer)),
               (SELECT groupArray(ts) FROM (SELECT ts FROM events WHERE tenant_id = {tenant:UInt32}
                AND (orig_h = {ip:String} OR resp_h = {ip:String}) ORDER BY ts DESC LIMIT 500))""",
    "changes (day vs day before)": """
        SELECT count() FROM (
            SELECT orig_h, resp_h, resp_p, service, max(ts >= {start:DateTime}) AS now, min(ts >= {start:DateTime}) AS before
            FROM flows WHERE tenant_id = {tenant:UInt32} AND ts >= {start:DateTime} - INTERVAL 1 DAY AND ts < {end:DateTime}
            GROUP BY orig_h, resp_h, resp_p, service HAVING now != before)""",
    "functions per pair (month)": """
        SELECT protocol, action, orig_h, resp_h, sum(count) FROM events
        WHERE tenant_id = {tenant:UInt32} AND ts >= {end:DateTime} - INTERVAL 30 DAY
        GROUP BY protocol, action, orig_h, resp_h""",
}
# Which raw question each route answers (routes not named answer none of them: alerts, users, …).
QUESTION = {
    "/": "traffic per minute (24 h)", "/api/v1/traffic": "traffic per minute (24 h)",
    "/api/v1/totals": "totals (24 h)", "/api/v1/protocols": "protocols (24 h)", "/api/v1/talkers": "talkers (24 h)",
    "/api/v1/zones/links": "talkers (24 h)",
    **dict.fromkeys(("/api/v1/assets", "/api/v1/assets.csv", "/assets", "/assets.csv", "/map", "/api/v1/zones",
                     "/api/v1/risk", "/api/v1/vulnerabilities", "/vulnerabilities", "/report", "/report/download"),
                    "ledger (all time)"),
    "/api/v1/assets/{device}": "device peers + 500 events", "/assets/{device}": "device peers + 500 events",
    **dict.fromkeys(("/api/v1/changes", "/api/v1/changes.csv", "/changes", "/changes.csv"),
                    "changes (day vs day before)"),
    **dict.fromkeys(("/stats", "/api/v1/stats", "/api/v1/stats.csv", "/api/v1/stats.parquet"),
                    "functions per pair (month)"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the data ------------------------------------------------------------------------------------


def plants(flows: int, events: int, ids: dict) -> list[Plant]:
    return [Plant(ids["big"], 0, tuple(ids["sensors"]["big"]), flows, events),
            *(Plant(ids[name], net, tuple(ids["sensors"][name]), flows // 20, events // 20, devices=120,
                    pairs=1200, alerts=300) for name, net in (("small1", 1), ("small2", 2)))]


def provision(cp: ControlPlane) -> dict:
    """Three tenants (the big one with three sensors, a user of every role and a contract) and the
    provider's data team; ids and raw API tokens."""
    ids: dict = {"sensors": {}, "tokens": {}}
    with cp.sessions() as db:
        for name, sensors in (("big", 3), ("small1", 1), ("small2", 1)):
            tenant = accounts.create_tenant(db, f"bench-{name}")
            ids[name] = tenant.id
            ids["sensors"][name] = [accounts.create_sensor(db, tenant, f"SN-{name}-{i}")[0].id for i in range(sensors)]
        big = accounts.tenant_named(db, "bench-big")
        for role in ROLES:
            user = accounts.create_user(db, big, f"{role}@bench.example", PASSWORD, role)
            ids["tokens"][role] = accounts.create_api_token(db, user, "bench")[1]
        sensors = [db.get(Sensor, s) for s in ids["sensors"]["big"][:2]]
        ids["contract"] = contracts.add_contract(db, big, json.dumps(OSECT_EXAMPLE), sensors).id
        provider = accounts.create_tenant(db, "provider")
        data = accounts.create_user(db, provider, "data@provider.example", PASSWORD, "datateam")
        ids["tokens"]["provider"] = accounts.create_api_token(db, data, "bench")[1]
    return ids


def fill_store(ch: ClickHouseStore, ids: dict, args, start: int) -> dict:
    began = time.perf_counter()
    for plant in plants(args.flows, args.events, ids):
        fill(ch.command, plant, start, args.days, args.chunk, progress=lambda text: print(text, flush=True))
    seconds = time.perf_counter() - began
    flows = sum(p.flows for p in plants(args.flows, args.events, ids))
    events = sum(p.events for p in plants(args.flows, args.events, ids))
    print(f"filled {flows:,} flows and {events:,} events in {seconds:.0f} s "
          f"({(flows + events) / seconds:,.0f} rows/s, the views included)")
    if ADVISORIES.is_dir():
        print(f"imported {len(import_path(ch, ADVISORIES).imported)} advisories")
    return {"seconds": seconds, "flows": flows, "events": events}


def table_sizes(ch: ClickHouseStore) -> None:
    rows = ch.query("""
        SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS disk, sum(data_uncompressed_bytes) AS raw, count() AS parts
        FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table ORDER BY disk DESC""")
    print(f"\n{'table':24s} {'rows':>14s} {'on disk':>10s} {'uncompressed':>13s} {'parts':>6s}")
    for r in rows:
        print(f"{r['table']:24s} {r['rows']:14,} {r['disk'] / 2**20:8.1f} MB {r['raw'] / 2**20:10.1f} MB {r['parts']:6}")


def sessions(cp: ControlPlane) -> dict[str, str]:
    """A fresh login session per role of the big tenant, and the provider's data team."""
    found = {}
    with cp.sessions() as db:
        for role, email in [*((r, f"{r}@bench.example") for r in ROLES), ("provider", "data@provider.example")]:
            found[role] = auth.start_session(db, db.scalar(select(User).where(User.email == email)))
    return found


def path_ids(cp: ControlPlane, ids: dict, plant: Plant) -> dict:
    with cp.sessions() as db:
        analyst = db.scalar(select(User).where(User.email == "analyst@bench.example"))
        token_id = db.scalar(select(ApiToken.id).where(ApiToken.user_id == analyst.id))
    return {"device": plant.device_mac(DEVICE), "alert_id": plant.alert_id(0), "contract": ids["contract"],
            "user_id": analyst.id, "token_id": token_id}


# -- timing ------------------------------------------------------------------------------------


def time_raw(ch: ClickHouseStore, params: dict, repeat: int, names: set[str]) -> dict[str, float]:
    medians = {}
    for name, sql in RAW.items():
        if name not in names or not repeat:  # --raw-repeat 0: the routes only
            continue
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            ch.query(sql, params)
            times.append((time.perf_counter() - began) * 1000)
        medians[name] = statistics.median(times)
        print(f"  raw: {name:30s} {medians[name]:9.0f} ms", flush=True)
    return medians


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | {"MIERUKA_DATA_DIR": str(data_dir), "MIERUKA_PORT": str(port), "MIERUKA_HOST": "127.0.0.1"}
    mieruka = shutil.which("mieruka", path=str(Path(sys.executable).parent)) or "mieruka"
    log = (data_dir / "serve.log").open("ab")
    server = subprocess.Popen([mieruka, "serve"], env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit("mieruka serve exited")
        time.sleep(0.5)
    server.send_signal(signal.SIGINT)
    raise SystemExit("mieruka serve did not become ready")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Fleet:
    """A sensor of another tenant uploading one-minute batches of a small simulated plant, each under a
    new batch id (so each is stored): the writes a core serving a fleet sees between two page views."""

    def __init__(self, cp: ControlPlane, tenant: int, work: Path):
        with cp.sessions() as db:
            sensor, self.token = accounts.create_sensor(db, db.get(Tenant, tenant), f"SN-churn-{time.time_ns()}")
            serial = sensor.serial
            db.commit()
        capture = work / "churn.pcap"
        write_pcap(capture, packets=3_000, seed=7, start=time.time() - 900)
        self.batches = list(iter_batches([capture], 60.0, sensor=serial, observer=Observer()))
        self.sent = 0

    def upload(self, client: httpx.Client) -> None:
        batch = replace(self.batches[self.sent % len(self.batches)], batch_id=str(uuid.uuid4()))
        answer = client.post("/api/v1/ingest", content=wire.encode(batch),
                             headers={"Authorization": f"Bearer {self.token}"})
        if answer.status_code != 200 or answer.json()["status"] != "stored":
            raise SystemExit(f"churn upload refused: {answer.status_code} {answer.text[:200]}")
        self.sent += 1


def time_route(client: httpx.Client, target: str, params: dict, candidates: list[dict], repeat: int, pid: int,
               between: Callable[[], None] = lambda: None):
    """Status, request times (ms), size and the server's (``pid``) mean CPU ms per timed request, with the
    first credential that gets a 200 (else the last one); ``between`` runs before each timed request, untimed
    (its CPU is left out)."""
    for headers in candidates:
        first = client.get(target, params=params, headers=headers)
        if first.status_code == 200:
            break
    times, cpu = [], 0.0
    for _ in range(repeat if first.status_code == 200 else 0):
        between()
        cpu -= cpu_seconds(pid)
        began = time.perf_counter()
        answer = client.get(target, params=params, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        cpu += cpu_seconds(pid)
        if answer.status_code != 200:  # reported as the route's status
            return answer.status_code, times, len(answer.content), None
    per_request = cpu * 1000 / len(times) if times else None
    return first.status_code, times, len(first.content), per_request


def routes(ids: dict, plant: Plant, window: dict) -> list[tuple[str, str, str, dict]]:
    """(label, path template, kind, query) of every read route, then filtered variants."""
    found = [(path, path, kind, {q: QUERY_VALUES[q] for q in query}) for path, kind, query in READS]
    ip = plant.device_ip(DEVICE)
    return found + [
        ("/api/v1/assets (30-day window)", "/api/v1/assets", "user", window),
        ("/api/v1/flows?host=", "/api/v1/flows", "user", {"host": ip}),
        ("/api/v1/explore/flows?device=", "/api/v1/explore/flows", "user", {"device": ip}),
        ("/api/v1/explore/events?device=", "/api/v1/explore/events", "user", {"device": ip}),
        *explore_sorts(window, ip),
        ("/changes (week vs week)", "/changes", "page", {"range": "7d"}),
    ]


def explore_sorts(window: dict, ip: str) -> list[tuple[str, str, str, dict]]:
    """The explorer sorted by columns other than time over a day, a week and the month (``window``'s
    ``start_1d``, ``start_7d``, ``start``), filtered or not, and the pages of the last day and week."""
    api = "/api/v1/explore/"
    spans = {"24 h": "start_1d", "7 d": "start_7d", "30 d": "start"}
    variants = [(f"{api}flows ({span}, by bytes)", f"{api}flows", {"sort": "-orig_bytes"}, span) for span in spans]
    variants += [(f"{api}{kind} ({span}, by time)", f"{api}{kind}", {}, span)
                 for kind in ("flows", "events") for span in ("7 d", "30 d")]
    variants += [(f"{api}flows (7 d, by {name})", f"{api}flows", {"sort": sort}, "7 d") for name, sort in (
        ("resp bytes", "-resp_bytes"), ("packets", "-orig_pkts"), ("duration", "-duration"),
        ("fewest bytes", "orig_bytes"), ("port", "resp_p"), ("end", "-ts_end"))]
    variants += [
        (f"{api}flows?device= (30 d, by bytes)", f"{api}flows", {"sort": "-orig_bytes", "device": ip}, "30 d"),
        (f"{api}flows?protocol= (30 d, by bytes)", f"{api}flows", {"sort": "-orig_bytes", "protocol": "s7comm"},
         "30 d"),
        *((f"{api}flows?{name}= (30 d, by time)", f"{api}flows", {name: value}, "30 d")
          for name, value in (("device", ip), ("source", ip), ("destination", ip), ("port", 102))),
        (f"{api}events?device= (30 d, by time)", f"{api}events", {"device": ip}, "30 d"),
        (f"{api}events (30 d, by count)", f"{api}events", {"sort": "-count"}, "30 d"),
        (f"{api}events (7 d, by count)", f"{api}events", {"sort": "-count"}, "7 d"),
    ]
    found = [(label, path, "user", query | {"start": window[spans[span]], "end": window["end"]})
             for label, path, query, span in variants]
    return found + [(f"/{kind} ({span}, by {name})", f"/{kind}", "page", {"range": span, "sort": sort})
                    for kind, name, sort in (("flows", "bytes", "-orig_bytes"), ("events", "count", "-count"),
                                             ("flows", "time", "-ts"), ("events", "time", "-ts"))
                    for span in ("24h", "7d")]


def pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"not a regular expression: {error}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=100_000_000)
    parser.add_argument("--events", type=int, help="default: a tenth of --flows")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=5_000_000, help="rows per INSERT … SELECT")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per route")
    parser.add_argument("--download-repeat", type=int, default=3,
                        help="timed requests per download (CSV, Parquet, the report file): capped, not pages")
    parser.add_argument("--raw-repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="data dir kept (and reused when filled with the same sizes)")
    parser.add_argument("--routes", type=pattern, default=re.compile(""), metavar="REGEX",
                        help="time only the routes whose label matches (re.search), e.g. 'changes|assets \\(30'")
    parser.add_argument("--churn", action="store_true",
                        help="another tenant's sensor uploads a batch before every timed request (a fleet at work)")
    args = parser.parse_args()
    args.events = args.flows // 10 if args.events is None else args.events
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-core-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=work)
    plan_file = work / "bench-plan.json"
    plan = json.loads(plan_file.read_text()) if plan_file.exists() else None
    wanted = {"flows": args.flows, "events": args.events, "days": args.days}
    if plan and {k: plan[k] for k in wanted} != wanted:
        raise SystemExit(f"{work} holds another fill ({plan['flows']:,} flows): choose another --keep")
    cp = ControlPlane(settings.database_dsn)
    cp.create_schema()
    with ClickHouseStore(settings.clickhouse_dsn).open() as ch:
        ch.migrate()
        if plan is None:
            ids = provision(cp)
            start = int(datetime.now(UTC).timestamp()) // 3600 * 3600 - args.days * 86400
            plan = wanted | {"ids": ids, "start": start, "fill": fill_store(ch, ids, args, start)}
            plan_file.write_text(json.dumps(plan))
        ids, end = plan["ids"], plan["start"] + args.days * 86400
        fill_seconds = plan["fill"]["seconds"]
        print(f"fill: {fill_seconds:.0f} s, {(plan['fill']['flows'] + plan['fill']['events']) / fill_seconds:,.0f} rows/s")
        table_sizes(ch)
        big = plants(args.flows, args.events, ids)[0]
        iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
        window = {"start": iso(plan["start"]), "end": iso(end), "start_7d": iso(end - 7 * 86400),
                  "start_1d": iso(end - 86400)}
        chosen = [r for r in routes(ids, big, window) if args.routes.search(r[0])]
        print("\nthe same questions of the raw tables:")
        raw = time_raw(ch, {"tenant": big.tenant, "start": datetime.fromtimestamp(end - 86400, UTC),
                               "end": datetime.fromtimestamp(end, UTC), "ip": big.device_ip(DEVICE)},
                       args.raw_repeat, {QUESTION[path] for _, path, _, _ in chosen if path in QUESTION})
    logins = sessions(cp)
    path_values = path_ids(cp, ids, big)
    fleet = Fleet(cp, ids["small1"], work) if args.churn else None
    cp.close()
    server, base = serve(work)
    results = []
    try:
        with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as client:
            for label, path, kind, params in chosen:
                params = {k: v for k, v in params.items() if k not in ("start_7d", "start_1d")}
                people = ["provider"] if path in DATA_TEAM_ROUTES else list(ROLES)
                candidates = [bearer(ids["tokens"][p]) if kind == "user" else
                              {"Cookie": f"{auth.SESSION_COOKIE}={logins[p]}"} for p in people]
                repeat = args.download_repeat if path.endswith((".csv", ".parquet", "/download")) else args.repeat
                between = (lambda: fleet.upload(client)) if fleet else (lambda: None)
                status, times, size, cpu = time_route(client, url(path, path_values), params, candidates, repeat,
                                                      server.pid, between)
                results.append((label, status, times, size, raw.get(QUESTION.get(path, "")), cpu))
                p50 = f"{percentile(times, 0.5):8.1f}" if times else "       -"
                print(f"  {label:44s} {status} {p50} ms", flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    report(results, args)


def report(results: list, args) -> None:
    print(f"\n{'route':44s} {'status':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'cpu ms':>8s} {'bytes':>10s} {'raw ms':>8s}"
          f" {'raw/p50':>8s}")
    slow = []
    for label, status, times, size, raw, cpu in results:
        p50, p95 = (percentile(times, 0.5), percentile(times, 0.95)) if times else (float("nan"),) * 2
        ratio = f"{raw / p50:8.0f}" if raw and times else "       -"
        print(f"{label:44s} {status:6d} {p50:8.1f} {p95:8.1f} {f'{cpu:8.1f}' if cpu is not None else '       -'}"
              f" {size:10,} {f'{raw:8.0f}' if raw else '       -'} {ratio}")
        if status != 200 or p95 >= GOAL_MS:
            slow.append(label)
    churn = ", another tenant's batch stored before each" if args.churn else ""
    print(f"\n{len(results)} routes, {args.repeat} requests each ({args.download_repeat} per download{churn}); "
          f"p95 ≥ {GOAL_MS} ms or not 200: {slow or 'none'}")


if __name__ == "__main__":
    main()
