"""How well the sensor identifies devices: per input, the devices the ledger builds from the
sensor's observations and the share of them with a vendor, a model and a firmware.

    .venv/bin/python bench/identity_coverage.py [--packets 60000] [--plant FILE] [--corpus DIR]
                                                [--json out.json] [--all]

Inputs: the simulated plant (``sensor.simulate.write_pcap``, or a capture of it given with
``--plant``, e.g. one an older simulator wrote) and every capture of the corpus.
Each is read by the sensor pipeline as the CLI reads a file (decoders and the observer on), its
observations are merged per fact and handed to the core's ledger (``core.analytics.ledger``),
so a device and its summary columns are exactly what the asset ledger would show. Only the
captures with at least one device that speaks an OT protocol or has a model or firmware are
printed unless ``--all``; the totals count every capture.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analytics.ledger import build_ledger  # noqa: E402
from core.analytics.roles import OT_SERVICES  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402
from sensor.meter.pipeline import iter_intervals  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402

CAPTURES = ("*.pcap", "*.pcapng", "*.cap")
COLUMNS = ("vendor", "model", "firmware")


def ledger_of(path: Path) -> list[dict]:
    """The ledger's device summaries for one capture (facts merged as the core merges them)."""
    facts: dict[tuple, dict] = {}
    for iv in iter_intervals([path], observer=Observer()):
        for o in iv.observations:
            key = (o["mac"], o["ip"], o["attribute"], o["value"], o["source"])
            seen = facts.setdefault(key, {"mac": o["mac"], "ip": o["ip"], "attribute": o["attribute"],
                                          "value": o["value"], "source": o["source"], "confidence": 0,
                                          "first_seen": o["ts"], "last_seen": o["ts"]})
            seen["confidence"] = max(seen["confidence"], o["confidence"])
            seen["first_seen"], seen["last_seen"] = min(seen["first_seen"], o["ts"]), max(seen["last_seen"], o["ts"])
    assets = build_ledger(list(facts.values()), [], {}, {})
    return [a.summary() | {"ot": bool({v.value for v in a.attributes.get("protocol_served", [])} & OT_SERVICES)}
            for a in assets.values()]


def row(name: str, devices: list[dict]) -> dict:
    return {"input": name, "devices": len(devices), "ot": sum(d["ot"] for d in devices),
            **{c: sum(bool(d[c]) for d in devices) for c in COLUMNS},
            "identified": sorted({f"{d['vendor']} | {d['model']} | {d['firmware']}" for d in devices
                                  if d["model"] or d["firmware"]})}


def share(n: int, of: int) -> str:
    return f"{n:>3} {100 * n / of:5.1f} %" if of else "  0     -  "


def table(rows: list[dict], everything: bool) -> str:
    lines = [f"| {'input':<72} | devices | OT | {' | '.join(f'{c:<11}' for c in COLUMNS)} |",
             f"|{'-' * 74}|--------:|---:|{'|'.join('-' * 12 + ':' for _ in COLUMNS)}|"]
    for r in rows:
        if everything or r["ot"] or r["model"] or r["firmware"] or r["input"].startswith(("TOTAL", "simulated")):
            cells = " | ".join(share(r[c], r["devices"]) for c in COLUMNS)
            lines.append(f"| {r['input']:<72} | {r['devices']:>7} | {r['ot']:>2} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=60_000, help="simulated plant size")
    ap.add_argument("--plant", type=Path, help="a simulated plant capture to read instead of simulating one")
    ap.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus"))
    ap.add_argument("--json", type=Path, help="write every row (with the identities found) here")
    ap.add_argument("--all", action="store_true", help="print every capture, not only those with OT or identities")
    args = ap.parse_args()
    started = time.perf_counter()
    rows = []
    if args.plant:
        rows.append(row(f"simulated plant ({args.plant.name})", ledger_of(args.plant)))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            plant = Path(tmp) / "plant.pcap"
            write_pcap(plant, args.packets, seed=1)
            rows.append(row(f"simulated plant ({args.packets:,} packets)", ledger_of(plant)))
    captures = sorted({p for pattern in CAPTURES for p in args.corpus.rglob(pattern)})
    ledgers = {str(p.relative_to(args.corpus)): ledger_of(p) for p in captures}
    corpus = [row(name, devices) for name, devices in ledgers.items()]
    total = {"input": "TOTAL corpus", **{k: sum(r[k] for r in corpus) for k in ("devices", "ot", *COLUMNS)},
             "identified": []}
    ot = row("TOTAL corpus, OT devices (serving an OT protocol)", [d for ds in ledgers.values() for d in ds if d["ot"]])
    rows += corpus + [total, {**ot, "identified": []}]
    print(table(rows, args.all))
    print(f"\n{len(captures)} captures, {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
