"""The explorer's latency (GET /api/v1/explore/*, the /flows and /events pages, the CSV) on the
simulated plant and on a large synthetic fill, in process against embedded ClickHouse (chDB).

    .venv/bin/python bench/bench_explore.py [--packets 300000] [--rows 2000000] [--days 7]

1. ``--packets`` of the simulated plant through the sensor pipeline and the real ingest (tenant acme);
2. ``--rows`` synthetic flow records for acme spread over ``--days`` up to the plant's data
   (INSERT … SELECT from ``numbers()``, bench_export's FILL moved in time).

For each: the median of 5 of the first page (100 rows: page, count and timeline), a filtered page
(one device), the 20th page by cursor, and the page HTML. Printed in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from coretest import PASSWORD, bearer, provision  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from bench_export import FILL  # noqa: E402
from core.api.app import create_app  # noqa: E402
from core.config import Settings  # noqa: E402
from sensor import wire  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402
from sensor.meter.pipeline import iter_batches  # noqa: E402
from sensor.simulate import EPOCH, write_pcap  # noqa: E402

FILL_AT_PLANT = FILL.replace("now()", "toDateTime({at:UInt32})")


def median_ms(call) -> float:
    times = []
    for _ in range(5):
        began = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text[:300]
    return statistics.median(times)


def measure(client, tenant, label: str, window: dict, device: str) -> None:
    api = lambda kind, **q: client.get(f"/api/v1/explore/{kind}", params=window | q,  # noqa: E731
                                       headers=bearer(tenant.api_token))
    first = api("flows").json()
    cursor = None
    for _ in range(19):
        cursor = api("flows", **({"cursor": cursor} if cursor else {})).json()["next_cursor"] or cursor
    results = {
        "flows first page": median_ms(lambda: api("flows")),
        "events first page": median_ms(lambda: api("events")),
        "flows of one device": median_ms(lambda: api("flows", device=device)),
        "flows sorted by bytes": median_ms(lambda: api("flows", sort="-orig_bytes")),
        "flows 20th page (cursor)": median_ms(lambda: api("flows", cursor=cursor)),
        "/flows page (HTML)": median_ms(lambda: client.get("/flows", params={"range": "7d"})),
        "/events page (HTML)": median_ms(lambda: client.get("/events", params={"range": "7d"})),
    }
    print(f"{label}: {first['count']:,} flow records in the window")
    for name, ms in results.items():
        print(f"  {name:28s} {ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=float, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-explore-"))
    with TestClient(create_app(Settings(data_dir=work)), follow_redirects=False) as client:
        acme = provision(client.app, "acme")
        pcap = work / "plant.pcap"
        summary = write_pcap(pcap, packets=args.packets, seed=1, start=EPOCH)
        began = time.perf_counter()
        for batch in iter_batches([pcap], 60.0, sensor="SN-acme", observer=Observer()):
            client.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch))
        print(f"ingested {args.packets:,} simulated packets in {time.perf_counter() - began:.1f} s")
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"csrf_token": token, "email": acme.email, "password": PASSWORD})
        window = {"start": "2025-12-29T00:00:00Z", "end": "2026-01-05T01:00:00Z"}
        device = summary["devices"][0]["ip"]
        measure(client, acme, f"simulated plant ({args.packets:,} packets), 7-day window", window, device)
        began = time.perf_counter()
        client.app.state.clickhouse.command(FILL_AT_PLANT, {"tenant": acme.id, "rows": args.rows,
                                                            "spread": int(args.days * 86400), "at": EPOCH})
        print(f"filled {args.rows:,} synthetic flow records over {args.days:g} days in "
              f"{time.perf_counter() - began:.1f} s")
        measure(client, acme, f"plus {args.rows:,} synthetic records, 7-day window", window, "10.0.9.7")
        measure(client, acme, f"plus {args.rows:,} synthetic records, 1-hour window",
                {"start": "2026-01-04T12:00:00Z", "end": "2026-01-04T13:00:00Z"}, "10.0.9.7")


if __name__ == "__main__":
    main()
