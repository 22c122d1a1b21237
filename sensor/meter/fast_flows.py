"""What the compiled protocol paths (``fast_modbus``, ``fast_s7comm``) share: their flows' ids (fids)
and the flow-table slot → fid map, and the tables their kernels write (flow state, pending
requests, event rows, jobs for Python, counters), grown before a kernel call would overflow them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import TypeVar

import numpy as np
import pyarrow as pa

from sensor.decode.fast import modbus as pending
from sensor.decode.spec import count_fault
from sensor.meter.eventcols import as_dicts

T = TypeVar("T")

PENDING, EVENT_ROWS = 1 << 12, 1 << 14  # a path's pending-request slots and event rows at an interval's start


UID_WIDTH = 18  # a flow uid: "C" and a 96-bit digest in base62


def _uid_bytes(uid: object) -> bytes | None:
    """``uid`` as the ASCII an ``Ends`` keeps, or None when it is no flow uid (empty, longer, not ASCII, or
    with a NUL: numpy's fixed-width bytes drop trailing NULs, so "\x00" would read as a free fid's b"")."""
    if not isinstance(uid, str) or not 0 < len(uid) <= UID_WIDTH or not uid.isascii() or "\x00" in uid:
        return None
    return uid.encode()


def uid_keys(uids: Iterable[str]) -> np.ndarray:
    """The flow uids among ``uids`` as an ``Ends`` keeps them, sorted: what ``Ends.fids_of`` looks up (a text
    that is no flow uid left out). Made once for every path an interval end reaches."""
    return np.array(sorted(uid for uid in map(_uid_bytes, uids) if uid), f"S{UID_WIDTH}")


def _checked(ends: tuple[str, str, str, int]) -> tuple[bytes, str, str, int]:
    uid = _uid_bytes(ends[0])
    if uid is None:
        raise ValueError(f"not a flow uid: {ends[0]!r}")
    return (uid, *ends[1:])


class Ends:
    """The endpoints (uid, orig_h, resp_h, resp_p) of a path's flows by fid (None: a free fid), kept as
    columns: the uids as fixed-width ASCII, the hosts (shared strings) as a list each, the ports as an
    array. A tuple, a uid string and a port int per flow were ~185 bytes (80,000 Modbus flows: ~15 MB)."""

    def __init__(self) -> None:
        self._uid = np.zeros(0, f"S{UID_WIDTH}")  # ASCII; b"": a free fid
        self._orig: list[str | None] = []
        self._resp: list[str | None] = []
        self._port = np.zeros(0, np.uint16)

    def __len__(self) -> int:
        return len(self._orig)

    def __getitem__(self, fid: int) -> tuple[str, str, str, int] | None:
        orig = self._orig[fid]
        return None if orig is None else (self._uid[fid].decode(), orig, self._resp[fid], int(self._port[fid]))

    def __iter__(self) -> Iterator[tuple[str, str, str, int] | None]:
        return (self[fid] for fid in range(len(self)))

    def __setitem__(self, fid: int, ends: tuple[str, str, str, int] | None) -> None:
        if ends is None:
            self._orig[fid] = self._resp[fid] = None
            self._uid[fid] = b""
        else:
            self._uid[fid], self._orig[fid], self._resp[fid], self._port[fid] = _checked(ends)

    def append(self, ends: tuple[str, str, str, int]) -> None:
        uid, orig, resp, port = _checked(ends)  # before anything changes: a refused uid leaves no fid behind
        fid = len(self._orig)
        if fid >= len(self._port):
            self._port = grown(self._port, fid + 1)
            self._uid = grown(self._uid, fid + 1)
        self._orig.append(orig)
        self._resp.append(resp)
        self._uid[fid], self._port[fid] = uid, port

    def resp_h(self, fid: int) -> str:
        """The responder's address of the flow ``fid``."""
        return self._resp[fid]

    def fids_of(self, wanted: np.ndarray) -> list[int]:
        """The fids of the flows with the uids ``wanted`` (``uid_keys``; a free fid is none of them)."""
        held = self._uid[: len(self)]
        if not len(wanted) or not len(held):
            return []
        # looked up in the sorted uids (np.isin sorts both: ~4 times the cost at an interval's few dozen);
        # a free fid's b"" equals none of them
        found = wanted[np.minimum(np.searchsorted(wanted, held), len(wanted) - 1)]
        return np.flatnonzero(found == held).tolist()

    def share_uid(self, fids: np.ndarray) -> bool:
        """Whether two of the flows ``fids`` (each once) have the same uid."""
        return len(np.unique(self._uid[fids])) < len(fids)

    def columns(self, fids: list[int]) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        """The uids, orig_h, resp_h and resp_p of the flows ``fids``."""
        return (self._uid[fids].astype(str), [self._orig[f] for f in fids], [self._resp[f] for f in fids],
                self._port[fids])


class CompiledFlows:
    """``kernel``: the kernel module (its FLOW_COLS, EVENT_COLS, JOB_COLS, COUNTERS, F_SLOT and C_* indexes)."""

    protocol = ""
    transport = "tcp"  # the flows the path takes ("tcp" or "udp"); its protocol's others stay in Python

    def __init__(self, kernel: ModuleType, initial: tuple[int, ...], max_events: int) -> None:
        self.k = kernel
        self._initial = initial  # a new flow's state row (its slot is set apart)
        self.dropped = 0  # events over the cap in the interval flushed last
        self.ends = Ends()
        self._free: list[int] = []
        self._flows = np.empty((0, kernel.FLOW_COLS), np.int64)
        self._by_slot = np.full(0, -1, np.int64)  # fid of each flow-table slot holding a flow of this path
        self._keys = np.full(PENDING, -1, np.int64)  # pending requests: kernel key → event row
        self._vals = np.zeros(PENDING, np.int64)
        self._events = np.zeros((EVENT_ROWS, kernel.EVENT_COLS), np.int64)
        self._jobs = np.zeros((1 << 6, kernel.JOB_COLS), np.int64)
        self._cnt = np.zeros(kernel.COUNTERS, np.int64)
        self.cap = max_events  # events an interval, this path's and its protocol's on the Python path
        self._cnt[kernel.C_MAX_EVENTS] = max_events

    def add(self, ends: tuple[str, str, str, int], slot: int) -> int:
        """A flow detected as this path's protocol, in the flow-table slot ``slot``: its fid."""
        if self._free:
            fid = self._free.pop()
            self.ends[fid] = ends
        else:
            fid = len(self.ends)
            self.ends.append(ends)
            if fid >= len(self._flows):
                self._flows = grown(self._flows, fid + 1)
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
        by_slot = self._by_slot
        if len(slots) and len(by_slot) > slots.max():  # (the usual case: one gather)
            return by_slot[slots]
        out = np.full(len(slots), -1, np.int64)
        if len(by_slot):
            inside = slots < len(by_slot)
            out[inside] = by_slot[slots[inside]]
        return out

    def forget_slots(self, slots: list[int]) -> None:
        inside = [slot for slot in slots if slot < len(self._by_slot)]
        self._by_slot[inside] = -1

    def release(self, fid: int) -> None:
        """The flow ended (after the interval's flush) or left the path: its slot may hold another flow next."""
        slot = self._flows[fid, self.k.F_SLOT]
        if slot < len(self._by_slot) and self._by_slot[slot] == fid:  # not since taken by another flow
            self._by_slot[slot] = -1
        self._forget(fid)
        self.ends[fid] = None
        self._free.append(fid)

    def end(self, wanted: np.ndarray) -> None:
        """The flows of the uids ``wanted`` (``uid_keys``) ended (after the interval's flush)."""
        for fid in self.ends.fids_of(wanted):
            self.release(fid)

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
        if self.ends.share_uid(np.unique(fids)):
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
        """Forget pending requests and the interval's event rows, the tables back to their first size (a
        busy interval's are not held across its end: 80,000 Modbus requests, ~13 MB); count the
        interval's events dropped over the cap; a new budget."""
        k = self.k
        if len(self._keys) > PENDING:
            self._keys, self._vals = np.full(PENDING, -1, np.int64), np.zeros(PENDING, np.int64)
        else:
            self._keys.fill(-1)
        if len(self._events) > EVENT_ROWS:
            self._events = np.zeros((EVENT_ROWS, k.EVENT_COLS), np.int64)
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
