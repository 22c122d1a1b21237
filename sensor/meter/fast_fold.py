"""Fold a compiled decoder's event columns: the groups ``sensor.meter.fold.fold_events`` would make of
the rows, with their counts, first and last times and round-trip-time sums. Two compiled passes: the
first numbers the groups (a hash table keyed by SipHash under a secret drawn per process: the key
columns are what the packets say, so their homes must not be predictable), the second sums them
straight into their places in time order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np

from sensor.decode.fast import siphash
from sensor.jit import njit

SECRET = np.array(siphash.secret(), np.uint64)
INT64_MIN = np.iinfo(np.int64).min


def seconds(us: int) -> str:
    """Whole µs as the decimal seconds the Python decoders format (``f"{s:.6f}"``)."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def utc(us: int) -> datetime:
    """µs since the epoch as a wire.EVENTS dict's time."""
    return datetime.fromtimestamp(us / 1_000_000, timezone.utc)


class Groups(NamedTuple):
    """Per group: a row of it, how many rows, first and last ts, how many answered (rtt ≥ 0), the
    sum and the maximum of their rtts."""

    row: np.ndarray
    count: np.ndarray
    first: np.ndarray
    last: np.ndarray
    rtt_n: np.ndarray
    rtt_sum: np.ndarray
    rtt_max: np.ndarray

    def sorted(self) -> Groups:
        """The groups in time order (a stable sort by first ts)."""
        order = np.argsort(self.first, kind="stable")
        return Groups(*(column[order] for column in self))

    def part(self, lo: int, hi: int) -> Groups:
        """The groups ``lo`` to ``hi``."""
        return Groups(*(column[lo:hi] for column in self))

    def rtt_mean(self) -> np.ndarray:
        """The mean of each group's answered rtts rounded half to even, as fold.py rounds the mean of the
        decimal strings (0 where none was answered)."""
        n = np.maximum(self.rtt_n, 1)
        q, r = np.divmod(self.rtt_sum, n)
        return q + ((2 * r > n) | ((2 * r == n) & ((q & 1) == 1)))


@njit(cache=True, _nrt=False)
def _number(events, key_cols, ts_col, secret, table, gid, first_row, first_ts):
    """Number the groups of the rows of ``events`` equal in ``key_cols`` in the order of their first rows:
    each row's group into ``gid``, each group's first row and earliest ts into ``first_row`` and
    ``first_ts``; ``table`` (a power of two of at least twice the rows, -1 everywhere) holds the groups by
    their key's hash. Returns how many groups."""
    mask, groups = len(table) - 1, 0
    for i in range(len(events)):
        v = siphash.start(secret[0], secret[1])
        for c in key_cols:
            v = siphash.absorb(v, np.uint64(events[i, c]))
        at = np.int64(siphash.finish(v, len(key_cols)) & np.uint64(mask))
        while True:
            g = table[at]
            if g < 0:
                g, table[at] = groups, groups
                first_row[g], first_ts[g] = i, events[i, ts_col]
                groups += 1
                break
            same, r = True, first_row[g]
            for c in key_cols:
                if events[r, c] != events[i, c]:
                    same = False
                    break
            if same:
                break
            at = (at + 1) & mask
        gid[i] = g
        first_ts[g] = min(first_ts[g], events[i, ts_col])
    return groups


@njit(cache=True, _nrt=False)
def _sum(events, gid, place, ts_col, rtt_col, count, last, rtt_n, rtt_sum, rtt_max):
    """Each row into its group's sums, the group at ``place[gid]`` (the sums zero, ``last`` and ``rtt_max``
    at their least, before)."""
    for i in range(len(events)):
        p, ts, rtt = place[gid[i]], events[i, ts_col], events[i, rtt_col]
        count[p] += 1
        last[p], rtt_max[p] = max(last[p], ts), max(rtt_max[p], rtt)
        if rtt >= 0:
            rtt_n[p] += 1
            rtt_sum[p] += rtt


def group_columns(events: np.ndarray, key_cols: list[int], ts_col: int, rtt_col: int) -> Groups:
    """The groups of rows equal in ``key_cols``, in time order (as ``Groups.sorted``; groups of the same
    first ts in the order of their keys, ``key_cols[0]`` first); rtt -1: unanswered."""
    if not len(events):
        return each_alone(events, ts_col, rtt_col)
    events, n = np.ascontiguousarray(events), len(events)
    gid, first_row, first_ts = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    groups = _number(events, np.array(key_cols, np.int64), ts_col, SECRET,
                     np.full(1 << (2 * n - 1).bit_length(), -1, np.int64), gid, first_row, first_ts)
    first_row, first_ts = first_row[:groups], first_ts[:groups]
    order = np.argsort(first_ts, kind="stable")
    tied = np.flatnonzero(first_ts[order[1:]] == first_ts[order[:-1]])
    if len(tied):  # groups of one first ts in the order of their keys
        at = np.unique(np.r_[tied, tied + 1])
        g = order[at]
        order[at] = g[np.lexsort((*(events[first_row[g], c] for c in key_cols[::-1]), first_ts[g]))]
    place = np.empty(groups, np.int64)
    place[order] = np.arange(groups)
    count, rtt_n, rtt_sum = np.zeros(groups, np.int64), np.zeros(groups, np.int64), np.zeros(groups, np.int64)
    last, rtt_max = np.full(groups, INT64_MIN), np.full(groups, INT64_MIN)
    _sum(events, gid, place, ts_col, rtt_col, count, last, rtt_n, rtt_sum, rtt_max)
    return Groups(first_row[order], count, first_ts[order], last, rtt_n, rtt_sum, rtt_max)


def each_alone(events: np.ndarray, ts_col: int, rtt_col: int) -> Groups:
    """Every row a group of its own."""
    ts, rtt = events[:, ts_col], events[:, rtt_col]
    return Groups(np.arange(len(events)), np.ones(len(events), np.int64), ts, ts, (rtt >= 0).astype(np.int64),
                  np.maximum(rtt, 0), rtt)


def groups(events: np.ndarray, key_cols: list[int], ts_col: int, rtt_col: int) -> Iterator[tuple[int, int, int, int,
                                                                                                   dict[str, str]]]:
    """Per group of rows equal in ``key_cols``, in time order: (a row of it, count, first ts, last ts,
    the rtt and rtt_max attributes of the fold, empty when none was answered)."""
    g = group_columns(events, key_cols, ts_col, rtt_col)
    for row, count, t0, t1, n, mean, top in zip(g.row.tolist(), g.count.tolist(), g.first.tolist(), g.last.tolist(),
                                                g.rtt_n.tolist(), g.rtt_mean().tolist(), g.rtt_max.tolist()):
        yield row, count, t0, t1, {"rtt": seconds(mean), "rtt_max": seconds(top)} if n else {}


def folded_rows(events: np.ndarray, key_cols: list[int], ts_col: int, rtt_col: int,
                row: Callable[..., dict]) -> Iterator[dict]:
    """One wire.EVENTS dict per group, in time order: ``row(event, 1, ts_end)`` for an event alone (all its
    attributes), else ``row(first event with the group's first time, count, ts_end, rtt attributes)``."""
    for at, count, t0, t1, rtt in groups(events, key_cols, ts_col, rtt_col):
        e = events[at].tolist()
        if count == 1:
            yield row(e, 1, t1)
        else:
            e[ts_col] = t0
            yield row(e, count, t1, rtt)
