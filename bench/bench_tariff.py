"""Tariff engine throughput: monthly invoices per second over a mixed book of contracts.

    .venv/bin/python bench/bench_tariff.py [--contract-months 100000] [--seed 1]

Builds a deterministic book of contracts of every plan (OsecT with sensor-count changes, Secure Camera
Cloud network/thermal with outages and early terminations, dot-i, CTS, Ciero), parses them once, then
invoices each for 24 consecutive months. Prints contract-months/s overall and per plan. There is no peer
billing engine to race, so the numbers stand alone.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tariff.calendar import Month  # noqa: E402
from tariff.contracts import parse_contract  # noqa: E402
from tariff.invoice import invoice  # noqa: E402

MONTHS = 24


def day(rng: random.Random, first: date, span_days: int) -> date:
    return first + timedelta(days=rng.randrange(span_days))


def osect(rng: random.Random, i: int) -> dict:
    desired = day(rng, date(2024, 1, 1), 730)
    changes, count, when = [], rng.randint(1, 5), desired
    for _ in range(rng.randint(0, 3)):
        when += timedelta(days=rng.randint(20, 200))
        count = max(1, count + rng.choice((-1, 1, 2)))
        changes.append({"date": when.isoformat(), "count": count})
    return {
        "contract_id": f"O-{i}", "plan": "osect", "desired_opening_date": desired.isoformat(),
        "equipment_delivered_date": (desired - timedelta(days=rng.randint(5, 20))).isoformat(),
        "installation_completed_date": (desired - timedelta(days=rng.randint(0, 4))).isoformat(),
        "opening_test_completed_date": None, "sensors": rng.randint(1, 5), "sensor_changes": changes,
    }  # fmt: skip


def secure_camera_cloud(rng: random.Random, i: int) -> dict:
    contract = day(rng, date(2024, 1, 1), 730)
    installed = contract + timedelta(days=rng.randint(0, 30))
    terminated = installed + timedelta(days=rng.randint(30, 1000)) if rng.random() < 0.3 else None
    outage = day(rng, installed, 400)
    return {
        "contract_id": f"S-{i}", "plan": "secure-camera-cloud",
        "camera_type": rng.choice(("network", "thermal")), "contract_date": contract.isoformat(),
        "installation_date": installed.isoformat(), "cameras": rng.randint(1, 40),
        "ip_vpn_ids": rng.randint(0, 5), "storage_units": rng.randint(0, 4),
        "termination_date": terminated and terminated.isoformat(),
        "outages": [{"aware_at": f"{outage}T09:00:00+09:00",
                     "restored_at": f"{outage + timedelta(days=rng.randint(1, 9))}T21:00:00+09:00"}],
    }  # fmt: skip


def per_contract(rng: random.Random, i: int) -> dict:
    plan = rng.choice(("dot-i", "cts", "ciero"))
    fee = {"annual_fee": rng.randint(50, 500) * 1000} if plan == "ciero" else {"monthly_fee": 9_800}
    start = day(rng, date(2024, 1, 1), 730)
    return {"contract_id": f"P-{i}", "plan": plan, "start_date": start.isoformat(), **fee}


def book(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    makers = (osect, secure_camera_cloud, per_contract)
    return [makers[i % len(makers)](rng, i) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contract-months", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    files = book(-(-args.contract_months // MONTHS), args.seed)
    started = time.perf_counter()
    contracts = [(data["plan"], parse_contract(data)) for data in files]
    parsed = time.perf_counter() - started

    elapsed: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    total_yen = 0
    first = Month(2024, 1)
    months = [first.plus(k) for k in range(MONTHS)]
    for plan, contract in contracts:
        t0 = time.perf_counter()
        for month in months:
            total_yen += invoice(contract, month).total
        elapsed[plan] += time.perf_counter() - t0
        counts[plan] += MONTHS

    n = sum(counts.values())
    seconds = sum(elapsed.values())
    print(
        f"{len(contracts):,} contracts parsed in {parsed:.2f} s ({len(contracts) / parsed:,.0f} contracts/s)"
    )
    print(f"{n:,} contract-months invoiced in {seconds:.2f} s: {n / seconds:,.0f} contract-months/s")
    for plan in sorted(counts):
        print(f"  {plan:<20} {counts[plan] / elapsed[plan]:>12,.0f} contract-months/s")
    print(f"(billed {total_yen:,} yen in total, tax included)")


if __name__ == "__main__":
    main()
