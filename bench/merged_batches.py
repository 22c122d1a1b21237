"""Larger batches from the same capture, for the ingest benches."""

from __future__ import annotations

import pyarrow as pa


def merged(batches: list, k: int) -> list:
    """Each ``k`` consecutive wire batches as one: their rows, the interval from the first start to the
    last end, the counters summed."""
    from sensor import wire  # whichever tree the bench put first on sys.path

    out = []
    for i in range(0, len(batches), k):
        part = batches[i:i + k]
        counters = {name: sum(b.counters.get(name, 0) for b in part) for name in wire.COUNTERS}
        tables = {name: pa.concat_tables([b.tables[name] for b in part]).combine_chunks() for name in wire.TABLES}
        out.append(wire.Batch(part[0].interval_start, part[-1].interval_end, tables, counters, sensor="SN"))
    return out
