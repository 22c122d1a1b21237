"""wire.EVENTS tables built straight from arrays: what the compiled paths hand over at an interval's
end instead of a dict per event (80,000 Modbus events as dicts held ~77 MB; as columns ~15 MB).

A table part is in time order (a stable sort by ``ts``), as the app layer merges its parts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import timezone
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from sensor import wire
from sensor.wire.compute import pc

if TYPE_CHECKING:
    from sensor.meter.fast_flows import Ends

BLOCK = 4096  # dict rows turned into columns at a time
TABLE_SLICE = 1 << 14  # rows a compiled path's events table is built at a time


def int_text(values: np.ndarray) -> pa.Array:
    """Each integer as ``str`` writes it."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def seconds_text(us: np.ndarray) -> pa.Array:
    """Whole µs (≥ 0) as decimal seconds, ``fast_fold.seconds`` of each."""
    whole, frac = np.divmod(us, 1_000_000)
    return pc.binary_join_element_wise(int_text(whole), pc.utf8_lpad(int_text(frac), 6, "0"), ".")


def names(table: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """``table[code]`` of each code."""
    return _strings(table).take(pa.array(codes, pa.int64()))


@functools.cache
def _strings(table: tuple[str, ...]) -> pa.Array:
    return pa.array(table, pa.string())  # (made at first use: pyarrow's first conversion looks for pandas)


NUMBER, SECONDS, TEXT = range(3)  # how an attribute's values are given: integers, whole µs, texts
_FORMAT = {NUMBER: int_text, SECONDS: seconds_text}


def attrs_map(columns: list[tuple[str, int, np.ndarray | pa.Array, np.ndarray | bool]], n: int) -> pa.MapArray:
    """The attrs column: per row, the attributes whose mask is true for it, in ``columns`` order
    (the order a dict built attribute by attribute has); ``columns``: (name, kind, the n rows' values,
    mask). Numbers and times are written out only where present, each kind in one go."""
    present = np.empty((n, len(columns)), np.bool_)
    for at, (_, _, _, mask) in enumerate(columns):
        present[:, at] = mask
    rows, cols = np.nonzero(present)  # row by row, each row's attributes in column order
    kinds = np.array([kind for _, kind, _, _ in columns], np.int64)[cols]
    numbers = np.zeros((len(columns), n), np.int64)
    for at, (_, kind, values, _) in enumerate(columns):
        if kind != TEXT:
            numbers[at] = values
    texts, where, made = [], np.empty(len(cols), np.int64), 0  # where: each entry's place in the texts
    for kind, write in _FORMAT.items():
        mine = np.flatnonzero(kinds == kind)
        if len(mine):
            texts.append(write(numbers[cols[mine], rows[mine]]))
            where[mine], made = made + np.arange(len(mine)), made + len(mine)
    for at, (_, kind, values, _) in enumerate(columns):
        mine = np.flatnonzero(cols == at) if kind == TEXT else ()
        if len(mine):
            texts.append(values.take(pa.array(rows[mine])))
            where[mine], made = made + np.arange(len(mine)), made + len(mine)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    keys = names(tuple(name for name, _, _, _ in columns), cols)
    values = pa.concat_arrays(texts).take(pa.array(where)) if texts else pa.array([], pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values, type=wire.EVENTS.field("attrs").type)


def events_table(ts: np.ndarray, ts_end: np.ndarray, count: np.ndarray, ends: Ends, flow: np.ndarray, protocol: str,
                 action: pa.Array, status: pa.Array, attrs: pa.Array) -> pa.Table:
    """A wire.EVENTS table of rows in time order; times in µs; ``ends[flow[i]]``: row i's (uid,
    orig_h, resp_h, resp_p). Each flow's ends become Arrow values once, and the rows take them."""
    fids, row_flow = np.unique(flow, return_inverse=True)
    kinds = (pa.string(), pa.string(), pa.string(), pa.uint16())
    taken = pa.table([pa.array(column, kind) for column, kind in zip(ends.columns(fids.tolist()), kinds)],
                     names=["uid", "orig_h", "resp_h", "resp_p"]).take(pa.array(row_flow.ravel()))
    cols = [pa.array(ts, pa.int64()).view(wire.TS), pa.array(ts_end, pa.int64()).view(wire.TS),
            pa.array(count, pa.uint32()), *taken.columns, pa.repeat(pa.scalar(protocol, pa.string()), len(ts)),
            action, status, attrs]
    return pa.Table.from_arrays(cols, schema=wire.EVENTS)


def in_slices(n: int, build: Callable[[int, int], pa.Table]) -> pa.Table:
    """``build(lo, hi)`` of the rows ``lo`` to ``hi``, TABLE_SLICE rows at a time, as one table: each
    slice's temporaries go before the next is built (80,000 Modbus events at once: ~30 MB of them)."""
    if n <= TABLE_SLICE:
        return build(0, n)
    return pa.concat_tables(build(lo, min(lo + TABLE_SLICE, n)) for lo in range(0, n, TABLE_SLICE))


def rows_part(rows: Iterable[dict]) -> list[dict] | pa.Table:
    """wire.EVENTS dicts, given in time order: as they are when BLOCK or fewer, else as a table built
    BLOCK dicts at a time."""
    rows = iter(rows)
    block = list(islice(rows, BLOCK))
    if len(block) < BLOCK:
        return block
    blocks = []
    while block:
        blocks.append(wire.table_from_rows("events", block))
        block = list(islice(rows, BLOCK))
    return pa.concat_tables(blocks)


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
