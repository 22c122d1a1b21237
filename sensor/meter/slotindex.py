"""The flow table's index from a flow's 64-bit key hash to its slot, in one numpy array.

Open addressing with linear probing, at most half full: an entry is a slot (int32), whose key is read
from the table's own matrix (``rows``: the key in each slot's first word), so the keys are not held
twice. 4 bytes an entry, where a dict of Python ints held ~110 bytes a flow (100,000 concurrent flows:
1 MiB instead of 11). An entry leads to a slot that holds its key: the table drops a slot's entry
before the slot takes another flow. Removed entries are marked ``GONE`` (a probe goes on past them)
until the next rebuild. Kernels are given whole arrays of keys, so Python never goes through the flows
one by one.
"""

from __future__ import annotations

import numpy as np

from sensor.jit import njit

EMPTY, GONE = -1, -2  # slot values of unused and removed entries


@njit(cache=True, _nrt=False)
def _home(key, mask):
    x = key ^ (key >> np.uint64(31))  # (keys are hashes already: fold the high bits in)
    return np.int64(x & np.uint64(mask))


@njit(cache=True, _nrt=False)
def _find(rows, V, key):
    """Position of ``key``, or -1."""
    mask = len(V) - 1
    i = _home(key, mask)
    while V[i] != EMPTY:
        if V[i] >= 0 and rows[V[i], 0] == key:
            return i
        i = (i + 1) & mask
    return -1


@njit(cache=True)
def _get(rows, V, keys, out):
    for j in range(len(keys)):
        i = _find(rows, V, keys[j])
        out[j] = V[i] if i >= 0 else -1


@njit(cache=True)
def _put(rows, V, keys, slots):
    """Set each key's slot; returns (keys that were new, removed entries they took again)."""
    mask = len(V) - 1
    new = reused = 0
    for j in range(len(keys)):
        key = keys[j]
        i = _find(rows, V, key)
        if i < 0:
            i = _home(key, mask)
            while V[i] >= 0:
                i = (i + 1) & mask
            new += 1
            reused += V[i] == GONE
        V[i] = slots[j]
    return new, reused


@njit(cache=True)
def _drop(rows, V, keys, slots):
    """Remove the keys that still lead to their slot here; returns how many were removed."""
    n = 0
    for j in range(len(keys)):
        i = _find(rows, V, keys[j])
        if i >= 0 and V[i] == slots[j]:
            V[i] = GONE
            n += 1
    return n


class SlotIndex:
    """``rows``, given to each call, is the table's uint64 matrix with each slot's key in its first column
    (a slot given to ``put`` holds its key there already)."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._slots = np.full(capacity, EMPTY, np.int32)
        self._live = self._gone = 0

    def __len__(self) -> int:
        return self._live

    def get(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The slot of each key (-1 for none)."""
        out = np.empty(len(keys), np.int64)
        _get(rows, self._slots, keys, out)
        return out

    def put(self, keys: np.ndarray, slots: np.ndarray, rows: np.ndarray) -> None:
        """Each (distinct) key now leads to its slot."""
        if 2 * (self._live + self._gone + len(keys)) > len(self._slots):  # (then count the keys it lacks)
            new = int(np.count_nonzero(self.get(keys, rows) < 0))  # a chunk's keys are mostly its flows' known ones
            if 2 * (self._live + self._gone + new) > len(self._slots):
                self._rebuild(self._live + new, rows)
        new, reused = _put(rows, self._slots, keys, slots)
        self._live += new
        self._gone -= reused

    def drop(self, keys: np.ndarray, slots: np.ndarray, rows: np.ndarray) -> None:
        """Forget the keys whose entry still leads to the given slot (a key may lead to a newer flow's)."""
        n = _drop(rows, self._slots, keys, slots)
        self._live -= n
        self._gone += n

    def _rebuild(self, entries: int, rows: np.ndarray) -> None:
        """Room for ``entries`` at most 40 % full (so that rebuilds stay rare), without the removed entries."""
        capacity = 1 << max(12, ((5 * entries) // 2).bit_length())
        slots = self._slots[self._slots >= 0]
        self._slots = np.full(capacity, EMPTY, np.int32)
        self._live, self._gone = _put(rows, self._slots, rows[slots, 0], slots.astype(np.int64))[0], 0
