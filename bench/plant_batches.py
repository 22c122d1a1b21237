"""The ingest benches' batches: the simulated plant through the sensor pipeline, merged to larger ones."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa


def plant_batches(workdir: Path, packets: int, interval: float, merge: int) -> list:
    """Wire batches of ``interval`` seconds of the ``packets``-packet plant (written once into ``workdir``),
    each ``merge`` consecutive ones as one. Imports whichever tree the bench put first on sys.path."""
    from sensor.meter.observe import Observer
    from sensor.meter.pipeline import iter_batches
    from sensor.simulate import write_pcap

    capture = workdir / f"plant-{packets}.pcap"
    if not capture.exists():
        write_pcap(capture, packets=packets, seed=1)
    return merged(list(iter_batches([capture], interval, sensor="SN", observer=Observer())), merge)


def merged(batches: list, k: int) -> list:
    """Each ``k`` consecutive wire batches as one: their rows, the interval from the first start to the
    last end, the counters summed."""
    from sensor import wire

    out = []
    for i in range(0, len(batches), k):
        part = batches[i:i + k]
        counters = {name: sum(b.counters.get(name, 0) for b in part) for name in wire.COUNTERS}
        tables = {name: pa.concat_tables([b.tables[name] for b in part]).combine_chunks() for name in wire.TABLES}
        out.append(wire.Batch(part[0].interval_start, part[-1].interval_end, tables, counters, sensor="SN"))
    return out
