"""The tenant export: speed and memory against ClickHouse writing the same rows to Parquet itself.

    .venv/bin/python bench/bench_export.py [--rows 2000000] [--days 30] [--workdir DIR]

Fills ``flows`` of one tenant (and as many of another) in an embedded ClickHouse (chDB) with
``--rows`` synthetic records spread over ``--days`` (INSERT … SELECT from ``numbers()``, through the
real table so the rollup views fill), then in the same run:

- peer: for every table the export reads, the same ``SELECT`` (``FINAL`` where it merges) ``INTO
  OUTFILE … FORMAT Parquet``: ClickHouse's own writer, one query per table, the ceiling for speed;
- ours: ``core.export.tenant.export_tenant`` for that tenant (every table in hourly slices, CSV
  beside the small tables, manifest with SHA-256).

Printed: seconds and rows/s each way, the ratio, and the process's peak RSS above its RSS before
each (ours must stay bounded however many rows there are: run with two sizes to see it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from core.export.tenant import final, select_list, export_tenant  # noqa: E402
from core.store.clickhouse import ClickHouseStore  # noqa: E402
from core.store.controlplane import Base  # noqa: E402

FILL = """
INSERT INTO flows (tenant_id, sensor_id, batch_id, interval_start, retention_days, ts, ts_end, uid, community_id,
                   vlan, orig_h, orig_p, resp_h, resp_p, proto, ethertype, service, duration, orig_bytes,
                   resp_bytes, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, history,
                   orig_l2_addr, resp_l2_addr, final, new_flow)
SELECT {tenant:UInt32}, 1, generateUUIDv4(), t, 0, t, t + 30, concat('C', toString(number)), '1:x', 0,
       concat('10.0.', toString(number % 200 DIV 10), '.', toString(number % 10)), 40000 + number % 20000,
       concat('10.0.9.', toString(number % 50)), 502, 'tcp', 2048, 'modbus', 30, 700, 700, 7, 7, 980, 980,
       'SF', 'ShADadFf', '00:1b:1b:00:00:01', '00:1b:1b:00:00:02', true, 1
FROM (SELECT number, toDateTime64(now() - toIntervalSecond(number * {spread:UInt64} DIV {rows:UInt64}), 6, 'UTC') AS t
      FROM numbers({rows:UInt64}))
"""


def reset_peak() -> float:
    """Start a new peak-RSS measurement (Linux: clear_refs 5 resets VmHWM); the RSS now, MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak_rss_mib() -> float:
    return _status("VmHWM")


def _status(field: str) -> float:
    line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith(field))
    return int(line.split()[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        work = Path(work)
        engine = create_engine(f"sqlite:///{work}/cp.db")
        Base.metadata.create_all(engine)
        with ClickHouseStore(f"chdb://{work}/ch") as ch:
            ch.migrate()
            began = time.perf_counter()
            for tenant in (1, 2):
                ch.command(FILL, {"tenant": tenant, "rows": args.rows, "spread": int(args.days * 86400)})
            print(f"filled {2 * args.rows:,} flow records (two tenants) over {args.days:g} days "
                  f"in {time.perf_counter() - began:.1f} s")
            rss = reset_peak()
            began = time.perf_counter()
            for table in ch.tenant_tables():
                ch.command(f"SELECT {select_list(table['columns'])} FROM {table['name']}{final(table)} "
                           f"WHERE tenant_id = 1 INTO OUTFILE '{work}/peer-{table['name']}.parquet' FORMAT Parquet")
            peer_s, peer_rss = time.perf_counter() - began, peak_rss_mib() - rss
            rss = reset_peak()
            began = time.perf_counter()
            manifest = export_tenant(ch, engine, 1, "bench", work / "export")
            ours_s, ours_rss = time.perf_counter() - began, peak_rss_mib() - rss
            ch_tables = ch.tenant_tables()
        rows = sum(f["rows"] for f in manifest["files"] if f["path"].endswith(".parquet"))
        print(f"tenant 1: {rows:,} rows in {len(ch_tables)} tables")
        print(f"{'':<36}{'seconds':>9}{'rows/s':>12}{'peak +MiB':>15}")
        print(f"{'ClickHouse INTO OUTFILE per table':<36}{peer_s:>9.2f}{rows / peer_s:>12,.0f}{peer_rss:>15.0f}")
        print(f"{'export_tenant':<36}{ours_s:>9.2f}{rows / ours_s:>12,.0f}{ours_rss:>15.0f}")
        print(f"ratio ours ÷ peer (rows per second): {peer_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
