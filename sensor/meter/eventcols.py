"""wire.EVENTS tables built straight from arrays: what the compiled paths hand over at an interval's
end instead of a dict per event (80,000 Modbus events as dicts held ~77 MB; as columns ~15 MB).

A table part is in time order (a stable sort by ``ts``), as the app layer merges its parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timezone
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensor import wire

BLOCK = 4096  # dict rows turned into columns at a time


def int_text(values: np.ndarray) -> pa.Array:
    """Each integer as ``str`` writes it."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def seconds_text(us: np.ndarray) -> pa.Array:
    """Whole µs (≥ 0) as decimal seconds, ``fast_fold.seconds`` of each."""
    whole, frac = np.divmod(us, 1_000_000)
    return pc.binary_join_element_wise(int_text(whole), pc.utf8_lpad(int_text(frac), 6, "0"), ".")


def names(table: Sequence[str], codes: np.ndarray) -> pa.Array:
    """``table[code]`` of each code."""
    return pa.array(table, pa.string()).take(pa.array(codes, pa.int64()))


def attrs_map(columns: list[tuple[str, pa.Array, np.ndarray | bool]], n: int) -> pa.MapArray:
    """The attrs column: per row, the attributes whose mask is true for it, in ``columns`` order
    (the order a dict built attribute by attribute has); ``columns``: (name, n values, mask)."""
    present = np.empty((n, len(columns)), np.bool_)
    for at, (_, _, mask) in enumerate(columns):
        present[:, at] = mask
    rows, cols = np.nonzero(present)  # row by row, each row's attributes in column order
    values = pa.concat_arrays([values for _, values, _ in columns]) if columns else pa.array([], pa.string())
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    return pa.MapArray.from_arrays(pa.array(offsets), names([name for name, _, _ in columns], cols),
                                   values.take(pa.array(cols * n + rows)), type=wire.EVENTS.field("attrs").type)


def events_table(ts: np.ndarray, ts_end: np.ndarray, count: np.ndarray, ends: list[tuple[str, str, str, int]],
                 flow: np.ndarray, protocol: str, action: pa.Array, status: pa.Array, attrs: pa.Array) -> pa.Table:
    """A wire.EVENTS table in time order; times in µs, ``ends[flow[i]]``: row i's (uid, orig_h, resp_h, resp_p)."""
    order = pa.array(np.argsort(ts, kind="stable"))
    cols = [pa.array(ts[order], pa.int64()).view(wire.TS), pa.array(ts_end[order], pa.int64()).view(wire.TS),
            pa.array(count[order], pa.uint32())]
    present, row_flow = np.unique(flow[order], return_inverse=True)
    present = [ends[fid] for fid in present.tolist()]
    for at, kind in enumerate((pa.string(), pa.string(), pa.string(), pa.uint16())):
        cols.append(pa.array([end[at] for end in present], kind).take(pa.array(row_flow)))
    cols += [pa.array(np.full(len(ts), protocol)) if len(ts) else pa.array([], pa.string()),
             action.take(order), status.take(order), attrs.take(order)]
    return pa.Table.from_arrays([c.cast(f.type) for c, f in zip(cols, wire.EVENTS)], schema=wire.EVENTS)


def rows_table(rows: Iterable[dict]) -> pa.Table:
    """wire.EVENTS dicts as a table in time order, BLOCK dicts held at a time."""
    rows, blocks = iter(rows), []
    while block := list(islice(rows, BLOCK)):
        blocks.append(wire.table_from_rows("events", block))
    table = pa.concat_tables(blocks) if blocks else wire.empty_table("events")
    return table.take(pa.array(np.argsort(ts_micros(table), kind="stable")))


def ts_micros(table: pa.Table) -> np.ndarray:
    return table.column("ts").cast(pa.int64()).to_numpy()


def as_dicts(table: pa.Table) -> Iterable[dict]:
    """The rows of a wire.EVENTS table as the dicts they were built from (times UTC-aware)."""
    for at in range(0, table.num_rows, BLOCK):
        for row in table.slice(at, BLOCK).to_pylist():
            row["ts"] = row["ts"].replace(tzinfo=timezone.utc)
            row["ts_end"] = row["ts_end"].replace(tzinfo=timezone.utc)
            row["attrs"] = dict(row["attrs"])
            yield row
