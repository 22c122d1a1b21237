"""What the compiled protocol paths (``fast_modbus``, ``fast_s7comm``) share: their flows' ids (fids)
and the flow-table slot → fid map, and the tables their kernels write (flow state, pending
requests, event rows, jobs for Python, counters), grown before a kernel call would overflow them."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensor.decode.fast import modbus as pending
from sensor.decode.spec import count_fault
from sensor.meter import flowends
from sensor.meter.eventcols import as_dicts

T = TypeVar("T")


class CompiledFlows:
    """``kernel``: the kernel module (its FLOW_COLS, EVENT_COLS, JOB_COLS, COUNTERS, F_SLOT and C_* indexes)."""

    protocol = ""
    transport = "tcp"  # the flows the path takes ("tcp" or "udp"); its protocol's others stay in Python

    def __init__(self, kernel: ModuleType, initial: tuple[int, ...], max_events: int) -> None:
        self.k = kernel
        self._initial = initial  # a new flow's state row (its slot is set apart)
        self.dropped = 0  # events over the cap in the interval flushed last
        self.n = 0  # fids handed out (the free ones are in _free)
        self._free = np.zeros(0, np.int64)  # released fids, a stack (the last released is taken first)
        self._n_free = 0
        self._ends = np.zeros((0, flowends.WORDS), np.uint64)  # by fid: the flow's ends (flowends rows)
        self._live = np.zeros(0, np.bool_)  # by fid: holds a flow
        self._flows = np.empty((0, kernel.FLOW_COLS), np.int64)
        self._by_slot = np.full(0, -1, np.int64)  # fid of each flow-table slot holding a flow of this path
        self._keys = np.full(1 << 12, -1, np.int64)  # pending requests: kernel key → event row
        self._vals = np.zeros(1 << 12, np.int64)
        self._events = np.zeros((1 << 14, kernel.EVENT_COLS), np.int64)
        self._jobs = np.zeros((1 << 6, kernel.JOB_COLS), np.int64)
        self._cnt = np.zeros(kernel.COUNTERS, np.int64)
        self.cap = max_events  # events an interval, this path's and its protocol's on the Python path
        self._cnt[kernel.C_MAX_EVENTS] = max_events

    def add(self, ends: np.ndarray, slot: int) -> int:
        """A flow detected as this path's protocol, in the flow-table slot ``slot`` (``ends``: its
        ``FlowTable.end_words``): its fid."""
        if self._n_free:
            self._n_free -= 1
            fid = int(self._free[self._n_free])
        else:
            fid, self.n = self.n, self.n + 1
            if fid >= len(self._flows):
                self._flows = grown(self._flows, fid + 1)
            if fid >= len(self._ends):
                self._ends, self._live = grown(self._ends, fid + 1), grown(self._live, fid + 1)
        self._ends[fid], self._live[fid] = ends, True
        self._flows[fid] = self._initial
        self._flows[fid, self.k.F_SLOT] = slot
        if slot >= len(self._by_slot):
            known = len(self._by_slot)
            self._by_slot = grown(self._by_slot, slot + 1)
            self._by_slot[known:] = -1
        self._by_slot[slot] = fid
        return fid

    def fids(self, slots: np.ndarray) -> np.ndarray:
        """The fid of each slot's flow on this path, else -1."""
        out = np.full(len(slots), -1, np.int64)
        inside = slots < len(self._by_slot)
        out[inside] = self._by_slot[slots[inside]]
        return out

    def forget_slots(self, slots: list[int]) -> None:
        inside = [slot for slot in slots if slot < len(self._by_slot)]
        self._by_slot[inside] = -1

    def release(self, fid: int) -> None:
        """The flow ended (after the interval's flush) or left the path: its slot may hold another flow next."""
        self._release(np.array([fid], np.int64))

    def _release(self, fids: np.ndarray) -> None:
        """``release`` each of ``fids`` in turn."""
        slots = self._flows[fids, self.k.F_SLOT]
        held = slots < len(self._by_slot)
        held[held] = self._by_slot[slots[held]] == fids[held]  # not since taken by another flow
        self._by_slot[slots[held]] = -1
        for fid in fids:
            self._forget(int(fid))
        self._live[fids] = False
        top = self._n_free + len(fids)
        if top > len(self._free):
            self._free = grown(self._free, top)
        self._free[self._n_free : top], self._n_free = fids, top

    def endpoints(self, fid: int) -> tuple[str, str, str, int]:
        """(uid, orig_h, resp_h, resp_p) of the flow ``fid``."""
        return flowends.one(self._ends[fid])

    def resp_h(self, fid: int) -> str:
        return flowends.resp_h(self._ends[fid])

    def _forget(self, fid: int) -> None:
        """Python-side state of a released flow."""

    def _unless_faulty(self, events: int, build: Callable[[], T], lost: T) -> T:
        """``build()``, which turns ``events`` of the kernel's event rows into the app layer's. Should it
        fail (a bug some input met), they are ``lost``: counted as dropped and as the protocol's decoder
        fault, and the capture goes on."""
        try:
            return build()
        except Exception as exc:  # noqa: BLE001 - hostile input must not stop the capture
            count_fault(self.protocol, exc)
            self._cnt[self.k.C_DROPPED] += events
            return lost

    def _part(self, part: pa.Table | list[dict], fids: np.ndarray) -> pa.Table | list[dict]:
        """The interval's rows of the flows ``fids``, a table made dicts when two of those flows share
        a uid (a connection reused within the µs it started): fold_events folds such rows together,
        which the app layer leaves to it for dicts (``IntervalEvents``)."""
        if isinstance(part, list):
            return part
        if flowends.shared_uid(self._ends[np.unique(fids)]):
            return list(as_dicts(part))
        return part

    def take_one(self) -> bool:
        """Whether the interval's budget has room for one more event of the protocol, kept on the
        Python path (a UDP flow's, a moved flow's); if so it is the kernel's one fewer."""
        cnt, k = self._cnt, self.k
        if cnt[k.C_EVENTS] >= cnt[k.C_MAX_EVENTS]:
            return False
        cnt[k.C_MAX_EVENTS] -= 1
        return True

    def _next_interval(self) -> None:
        """Forget pending requests; count the interval's events dropped over the cap; a new budget."""
        k = self.k
        self._keys.fill(-1)
        self.dropped = int(self._cnt[k.C_DROPPED])
        self._cnt[: k.C_MAX_EVENTS] = 0
        self._cnt[k.C_MAX_EVENTS] = self.cap

    def _grow(self, pdus: int) -> None:
        """Make room for ``pdus`` more PDUs."""
        k, cnt = self.k, self._cnt
        if cnt[k.C_EVENTS] + pdus > len(self._events) and len(self._events) < cnt[k.C_MAX_EVENTS]:
            self._events = grown(self._events, cnt[k.C_EVENTS] + pdus)
        if cnt[k.C_JOBS] + pdus > len(self._jobs):
            self._jobs = np.zeros((2 * (cnt[k.C_JOBS] + pdus), k.JOB_COLS), np.int64)  # taken after every call
        size = len(self._keys)
        while 2 * (cnt[k.C_PENDING] + pdus) > size:
            size *= 2
        if size != len(self._keys):
            self._keys, self._vals = rehashed(self._keys, self._vals, size)


def end_flows(paths: list[CompiledFlows], uids: pa.Array) -> None:
    """The flows of these uids (texts) ended (after the interval's flush): each path releases its
    own. One look-up for all paths: their flows' uids are made texts together."""
    paths = [path for path in paths if path.n > path._n_free]  # (those holding flows)
    if not len(uids) or not paths:
        return
    live = [np.flatnonzero(path._live[: path.n]) for path in paths]
    words = np.concatenate([path._ends[fids, flowends.UID : flowends.UID + 2] for path, fids in zip(paths, live)])
    ended = pc.is_in(flowends.uids(words), value_set=uids).to_numpy(zero_copy_only=False)
    at = 0
    for path, fids in zip(paths, live):
        gone = fids[ended[at : at + len(fids)]]
        if len(gone):
            path._release(gone)
        at += len(fids)


def grown(table: np.ndarray, rows: int, cap: int | None = None) -> np.ndarray:
    """``table`` with room for ``rows`` rows, grown by at least a quarter (``cap`` rows at most) and in
    place where the allocator can (``ndarray.resize``: realloc moves pages rather than copying them;
    new rows zeroed)."""
    table = np.require(table, requirements=["C", "O"])  # (a view, e.g. an empty start, is copied once)
    size = max(rows, len(table) + max(len(table) // 4, 64))
    table.resize((size if cap is None else min(size, cap), *table.shape[1:]), refcheck=False)
    return table


def rehashed(keys: np.ndarray, vals: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A pending-style hash table (keys, -1 where free; vals) moved into a new one of ``size`` slots."""
    new_keys, new_vals = np.full(size, -1, np.int64), np.zeros(size, np.int64)
    pending.rehash(keys, vals, new_keys, new_vals)
    return new_keys, new_vals


def take_flow(keys: np.ndarray, vals: np.ndarray, fid: int, fid_shift: int) -> tuple[np.ndarray, ...]:
    """The entries of flow ``fid`` in a pending-style table whose keys are ``fid << fid_shift | …``: (their
    keys without the flow's bits, their values, the table's keys and values without them)."""
    taken = np.flatnonzero((keys >= 0) & (keys >> fid_shift == fid))
    if not len(taken):
        return taken, taken, keys, vals
    kept = keys.copy()
    kept[taken] = -1
    return keys[taken] & ((1 << fid_shift) - 1), vals[taken], *rehashed(kept, vals, len(keys))
