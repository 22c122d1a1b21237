"""Uplink bytes per captured byte on a camera-heavy site, against Zeek-style logs of the same records.

    .venv/bin/python bench/bench_uplink.py [--packets 1000000] [--interval 60] [--workdir DIR]

A camera-heavy capture (sensor.simulate.write_pcap with cameras=True: 16 cameras at about 2 Mbit/s
next to the plant) goes through the sensor pipeline, and every interval's batch is encoded for the
wire as the sensor spools it (wire.encode: the compact column form, zstd level 19). The peer is what
a Zeek-style sensor would ship for the same interval: the same rows and columns as Zeek TSV logs (one
per table, Zeek's header, unset/empty markers, epoch times), concatenated and compressed with zstd at
the same level, one frame per interval as an uplink sends them. Two peers for the events: the same
folded rows, and one row per PDU as Zeek's protocol logs have them. Also printed: the Zeek logs
compressed whole (its best case, which no per-interval uplink gets), and the economy mode near the
data budget (flows as per-pair summaries over 15 minutes, sensor/ship/budget.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor import wire  # noqa: E402
from sensor.ship import budget
from sensor.meter.observe import Observer  # noqa: E402
from sensor.meter.pipeline import iter_batches  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402

LEVEL = 19  # wire.encode's
ZEEK_TYPES = {"timestamp[us, tz=UTC]": "time", "string": "string", "bool": "bool", "double": "interval"}


def _field(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value.timestamp():.6f}"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, list):  # a map column: Zeek's set/table syntax
        return ",".join(f"{k}={v}" for k, v in value) or "(empty)"
    return str(value) if value != "" else "(empty)"


def zeek_tsv(name: str, table) -> bytes:
    """``table`` as a Zeek TSV log: the header Zeek writes, then one tab-separated line per row."""
    types = [ZEEK_TYPES.get(str(f.type), "count" if "int" in str(f.type) else "table[string,string]")
             for f in table.schema]
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{name}",
             "#fields\t" + "\t".join(table.schema.names), "#types\t" + "\t".join(types)]
    columns = [table.column(n).to_pylist() for n in table.schema.names]
    lines += ["\t".join(map(_field, row)) for row in zip(*columns)]
    return ("\n".join(lines) + "\n").encode()


def logs(batch: wire.Batch) -> bytes:
    return b"".join(zeek_tsv(name, batch.tables[name]) for name in wire.TABLES)


def flows_only(batch: wire.Batch) -> wire.Batch:
    return replace(batch, tables={name: t if name == "flows" else wire.empty_table(name)
                                  for name, t in batch.tables.items()})


def economy(batches: list[wire.Batch], period: float) -> list[wire.Batch]:
    """What economy mode sends for ``batches``: each without flows, plus the flow summaries."""
    summary, out = budget.FlowSummary(period), []
    for batch in batches:
        out += [b for b in [summary.add(batch)] if b]
        out.append(replace(batch, tables=batch.tables | {"flows": wire.empty_table("flows")}))
    return out + [b for b in [summary.take()] if b]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--interval", type=float, default=60.0, help="batch interval, seconds")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"cameras-{args.packets}.pcap"
    if not path.exists():
        print(f"writing {path} …", flush=True)
        write_pcap(path, packets=args.packets, seed=1, cameras=True)

    batches = list(iter_batches([path], args.interval, sensor="SN-bench", observer=Observer()))
    per_pdu = list(iter_batches([path], args.interval, sensor="SN-bench", observer=Observer(), fold=False))
    captured = sum(b.counters["bytes"] for b in batches)
    seconds = (batches[-1].interval_end - batches[0].interval_start).total_seconds()
    zstd = zstandard.ZstdCompressor(level=LEVEL)
    ours = sum(len(wire.encode(b)) for b in batches)
    ours_flows = sum(len(wire.encode(flows_only(b))) for b in batches)
    zeek = sum(len(zstd.compress(logs(b))) for b in batches)
    zeek_flows = sum(len(zstd.compress(zeek_tsv("flows", b.tables["flows"]))) for b in batches)
    zeek_pdus = sum(len(zstd.compress(logs(b))) for b in per_pdu)
    zeek_whole = len(zstandard.ZstdCompressor(level=19).compress(b"".join(logs(b) for b in batches)))
    saving = sum(len(wire.encode(b)) for b in economy(batches, 900.0))
    rows = {name: sum(b.rows(name) for b in batches) for name in wire.TABLES}

    print(f"capture: {args.packets:,} packets, {captured / 1e6:,.1f} MB over {seconds:.0f} s "
          f"({captured * 8 / seconds / 1e6:.1f} Mbit/s), {len(batches)} batches of {args.interval:g} s; "
          + ", ".join(f"{n:,} {name}" for name, n in rows.items())
          + f" (events before folding: {sum(b.rows('events') for b in per_pdu):,})")
    print(f"{'what is sent':<58}{'bytes':>12}{'per captured byte':>20}{'ours ÷ this':>13}")
    for label, sent, mine in [
        ("mieruka batches (flows + events + observations)", ours, ours),
        ("Zeek-style TSV logs of the same rows, zstd per interval", zeek, ours),
        ("Zeek-style TSV logs, one event row per PDU, per interval", zeek_pdus, ours),
        ("Zeek-style TSV logs of the same rows, whole capture", zeek_whole, ours),
        ("mieruka flows alone", ours_flows, ours_flows),
        ("Zeek-style TSV flows alone, zstd per interval", zeek_flows, ours_flows),
        ("mieruka economy mode (flows summarised over 15 min)", saving, saving),
    ]:
        print(f"{label:<58}{sent:>12,}{sent / captured:>20.5%}{mine / sent:>13.2f}")


if __name__ == "__main__":
    main()
