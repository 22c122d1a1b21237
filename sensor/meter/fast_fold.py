"""Fold a compiled decoder's event columns with numpy: the groups ``sensor.meter.fold.fold_events``
would make of the rows, with their counts, first and last times and round-trip-time sums."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def seconds(us: int) -> str:
    """Whole µs as the decimal seconds the Python decoders format (``f"{s:.6f}"``)."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def mean_us(total: int, n: int) -> int:
    """total / n rounded half to even, as fold.py rounds the mean of the decimal strings."""
    q, r = divmod(total, n)
    return q + 1 if 2 * r > n or (2 * r == n and q & 1) else q


def groups(events: np.ndarray, key_cols: list[int], ts_col: int, rtt_col: int) -> Iterator[tuple[int, int, int, int,
                                                                                                   dict[str, str]]]:
    """Per group of rows equal in ``key_cols``: (a row of it, count, first ts, last ts, the rtt and
    rtt_max attributes of the fold, empty when none was answered); rtt -1: unanswered."""
    if not len(events):
        return
    order = np.lexsort(events[:, key_cols[::-1]].T)
    keys = events[order][:, key_cols]
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    ts, rtt = events[order, ts_col], events[order, rtt_col]
    answered = rtt >= 0
    counts = np.diff(np.r_[starts, len(order)])
    first_ts, last_ts = np.minimum.reduceat(ts, starts), np.maximum.reduceat(ts, starts)
    rtt_n = np.add.reduceat(answered.astype(np.int64), starts)
    rtt_sum = np.add.reduceat(np.where(answered, rtt, 0), starts)
    rtt_max = np.maximum.reduceat(rtt, starts)
    for row, count, t0, t1, n, total, top in zip(order[starts].tolist(), counts.tolist(), first_ts.tolist(),
                                                 last_ts.tolist(), rtt_n.tolist(), rtt_sum.tolist(), rtt_max.tolist()):
        yield row, count, t0, t1, {"rtt": seconds(mean_us(total, n)), "rtt_max": seconds(top)} if n else {}


def folded_rows(events: np.ndarray, key_cols: list[int], ts_col: int, rtt_col: int,
                row: Callable[..., dict]) -> list[dict]:
    """One wire.EVENTS dict per group: ``row(event, 1, ts_end)`` for an event alone (all its
    attributes), else ``row(first event with the group's first time, count, ts_end, rtt attributes)``."""
    rows = []
    for at, count, t0, t1, rtt in groups(events, key_cols, ts_col, rtt_col):
        e = events[at].tolist()
        if count == 1:
            rows.append(row(e, 1, t1))
        else:
            e[ts_col] = t0
            rows.append(row(e, count, t1, rtt))
    return rows
