"""What a compiled path whose flows may move to Python does around its kernel (``fast_s7comm``,
``fast_iec104``, ``fast_dnp3``): run the kernel over a chunk's packets, growing its tables and
handing over a flow at the first segment the kernel does not take; tell the flow table the
services; note protocol_served facts; at the interval's end turn the event columns into a
wire.EVENTS table, one row per event or folded with numpy (``sensor.meter.fast_fold``).

A flow that moves goes on in Python for good: ``move_out`` gives the app layer what the Python
decoder would hold by then — services, the responder's services noted this interval, the next
sequence numbers, the pending requests (as ``Event`` objects) and the interval's events of the
flow (so that no event of an interval is folded on both paths).

A protocol says how its rows read (``_fields``: action, status and attributes; ``_transaction``:
the attributes naming one PDU), what its pending-table keys and markers stand for, and its
kernel's layout (the kernel module: F_*, E_FID/E_TS/E_RTT, KEY_COLS, DONE/MOVE/GROW; counters as
``sensor.decode.fast.modbus``'s).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pyarrow as pa

from sensor.decode.fast import framed
from sensor.decode.fast import modbus as pending
from sensor.decode.spec import Event, Fact
from sensor.meter.eventcols import rows_part
from sensor.meter.fast_fold import folded_rows, seconds, utc
from sensor.meter.fast_flows import CompiledFlows, take_flow
from sensor.meter.flows import SEC, FlowTable
from sensor.meter.rows import Facts

CONF_SERVED = 80  # as applayer.CONF_SERVED


class MovingFlows(CompiledFlows):
    """``services``: (bit, service name) of what the kernel confirms; ``min_frame``: the bytes of the
    shortest frame (tables are grown for a segment of such frames)."""

    services: tuple[tuple[int, str], ...] = ()
    min_frame = 1
    fid_shift = 0  # pending-table keys: fid << fid_shift | the request's key in the flow

    def __init__(self, kernel: ModuleType, initial: tuple[int, ...], max_events: int, facts: Facts,
                 table: FlowTable) -> None:
        super().__init__(kernel, initial, max_events)
        self.facts = facts
        self.table = table
        self.errors = 0  # malformed PDUs since the caller last took them (besides the kernel's count)

    # -- packets --------------------------------------------------------------------------

    def packets(self, buf: np.ndarray, fid: np.ndarray, is_orig: np.ndarray, ts: np.ndarray, off: np.ndarray,
                length: np.ndarray, end: np.ndarray, seq: np.ndarray, move: Callable[[int, np.ndarray], None]) -> None:
        """Decode the packets (in capture order) of placed flows; ``move(fid, positions)`` hands a
        flow over to Python with its packets from the one the kernel did not take on."""
        k, start = self.k, 0
        while start < len(fid):
            status, i = self._scan(buf, fid, is_orig, ts, off, length, end, seq, start)
            self._jobs_done(buf)
            if status == k.GROW:
                self._grow(int(length[i]) // self.min_frame + 1)
            elif status == k.MOVE:
                self._move_from(i, fid, move)
                i += 1
            elif status != k.DONE:  # the packet is the path's own to read
                if not self._aside(buf, i, fid, is_orig, ts, off, length, seq):
                    self._move_from(i, fid, move)
                i += 1
            start = i
        self._tell_services()

    def _move_from(self, i: int, fid: np.ndarray, move: Callable[[int, np.ndarray], None]) -> None:
        """The flow of packet ``i`` goes on in Python from that packet on."""
        f = int(fid[i])
        self._flows[f, self.k.F_MOVED] = 1
        move(f, i + np.flatnonzero(fid[i:] == f))

    def _aside(self, buf: np.ndarray, i: int, fid: np.ndarray, is_orig: np.ndarray, ts: np.ndarray, off: np.ndarray,
               length: np.ndarray, seq: np.ndarray) -> bool:
        """Read packet ``i``, which the kernel left to the path (a scan result of its own); False when
        the flow must go on in Python from it instead."""
        raise NotImplementedError

    def _scan(self, *packets: np.ndarray | int) -> tuple[int, int]:
        return self.k.scan(*packets, self._flows, self._keys, self._vals, self._events, self._jobs, self._cnt)

    def _jobs_done(self, data: np.ndarray) -> None:
        """Read what the kernel left to Python in ``data`` (its jobs table)."""

    def _note_facts(self, fid: int, ts: int, is_orig: int, facts: list[Fact]) -> None:
        """Facts a parser read in a PDU of the flow (sent at ``ts`` µs by the originator if ``is_orig``),
        noted about the PDU's sender or its receiver, as the app layer notes a decoder's."""
        _, orig_h, resp_h, _ = self.ends[fid]
        for fact in facts:
            ip = orig_h if bool(is_orig) == fact.about_sender else resp_h
            self.facts.add(ts / SEC, "", ip, fact.attribute, fact.value, self.protocol, fact.confidence)

    def _tell_services(self) -> None:
        k, n = self.k, len(self.ends)
        for fid in np.flatnonzero(self._flows[:n, k.F_SERVICES] != self._flows[:n, k.F_TOLD]).tolist():
            bits = int(self._flows[fid, k.F_SERVICES])
            self._flows[fid, k.F_TOLD] = bits
            if not self._flows[fid, k.F_MOVED]:  # (a moved flow's were told as it moved)
                self.table.set_service(int(self._flows[fid, k.F_SLOT]), ",".join(sorted(self._services(bits))))

    def _services(self, bits: int) -> set[str]:
        return {name for bit, name in self.services if bits & bit}

    def take_errors(self) -> int:
        errors, self.errors = self.errors + int(self._cnt[pending.C_ERRORS]), 0
        self._cnt[pending.C_ERRORS] = 0
        return errors

    # -- to Python ------------------------------------------------------------------------

    def move_out(self, fid: int) -> tuple[set[str], set[str], list[int | None], list[Event], dict, dict]:
        """What the Python decoder would hold for the flow now: (services, services served this
        interval (their facts noted here), next sequence numbers, the interval's events, pending
        requests, session vars); the flow leaves the compiled path."""
        k = self.k
        flow = self._flows[fid].tolist()
        served = self._note_served(fid)
        n = self._cnt[k.C_EVENTS]
        mine = np.flatnonzero(self._events[:n, k.E_FID] == fid)
        events = self._unless_faulty(len(mine), lambda: {row: self._event(self._events[row].tolist())
                                                         for row in mine.tolist()}, {})
        self._events[mine, k.E_FID] = -1  # rows now the app layer's
        keys, rows, self._keys, self._vals = take_flow(self._keys, self._vals, fid, self.fid_shift)
        asked = {self._pending_key(key): events[row] if row >= 0 else self._dropped(row)
                 for key, row in zip(keys.tolist(), rows.tolist()) if row < 0 or row in events}
        self._cnt[k.C_PENDING] -= len(keys)
        if flow[k.F_SERVICES] != flow[k.F_TOLD]:  # the flow table learns what the decoder would have told it
            self.table.set_service(flow[k.F_SLOT], ",".join(sorted(self._services(flow[k.F_SERVICES]))))
        variables = self._vars(fid)
        seqs = [None if s < 0 else s for s in flow[k.F_SEQ : k.F_SEQ + 2]]
        self.release(fid)
        return self._services(flow[k.F_SERVICES]), served, seqs, list(events.values()), asked, variables

    def _pending_key(self, key: int) -> object:
        """The Python decoder's pending key for a kernel key (its flow's bits taken off)."""
        raise NotImplementedError

    def _dropped(self, marker: int) -> Event:
        """The pending request of an event dropped over the cap, as the Python decoder holds it."""
        return Event("")

    def _vars(self, fid: int) -> dict:
        """The session vars the Python decoder would hold for the flow."""
        return {}

    def _note_served(self, fid: int) -> set[str]:
        """protocol_served facts for what the flow's responder served this interval; their names."""
        k = self.k
        bits, names = int(self._flows[fid, k.F_SERVED]), set()
        for i, (bit, name) in enumerate(self.services):
            if bits & bit:
                at = self._flows[fid, k.F_SERVED_AT + i] / SEC
                self.facts.add(at, "", self.ends.resp_h(fid), "protocol_served", name, self.protocol, CONF_SERVED)
                names.add(name)
        self._flows[fid, k.F_SERVED] = 0
        return names

    # -- interval end ---------------------------------------------------------------------

    def flush(self, fold: bool) -> pa.Table | list[dict]:
        """The interval's events (a wire.EVENTS part: folded or one row per event; dicts, a table
        past a block of them); notes which responders served what; forgets pending requests."""
        k, n = self.k, len(self.ends)
        for fid in np.flatnonzero(self._flows[:n, k.F_SERVED]).tolist():
            self._note_served(fid)
        events = self._events[: self._cnt[k.C_EVENTS]]
        events = events[events[:, k.E_FID] >= 0]

        def build() -> pa.Table | list[dict]:
            if fold:
                rows = folded_rows(events, list(k.KEY_COLS), k.E_TS, k.E_RTT, self._row)
            else:  # in time order (a packet's time may go back: capture order is not time order)
                order = np.argsort(events[:, k.E_TS], kind="stable")
                rows = (self._row(e, 1, e[k.E_TS]) for e in events[order].tolist())
            return self._part(rows_part(rows), events[:, k.E_FID])
        part = self._unless_faulty(len(events), build, []) if len(events) else []
        self._flows[:n, k.F_PENDING] = 0
        self._next_interval()
        return part

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        """(action, status, attributes but those naming one PDU) of an event row, valued as the
        Python decoder values them."""
        raise NotImplementedError

    def _transaction(self, e: list[int]) -> dict[str, object]:
        """The attributes of an event row that name one PDU (fold.TRANSACTION_ATTRS)."""
        return {"rtt": seconds(e[self.k.E_RTT])} if e[self.k.E_RTT] >= 0 else {}

    def _event(self, e: list[int]) -> Event:
        """An event row as the Python decoder's Event (for a flow moving to Python)."""
        action, status, attrs = self._fields(e)
        return Event(action, status, {**attrs, **self._transaction(e)}, ts=e[self.k.E_TS] / SEC)

    def _row(self, e: list[int], count: int, ts_end: int, rtt: dict[str, str] | None = None) -> dict:
        """A wire.EVENTS dict: one event with the attributes naming its PDU, or (``rtt`` given) a fold."""
        k = self.k
        action, status, attrs = self._fields(e)
        attrs.update(self._transaction(e) if rtt is None else rtt)
        uid, orig_h, resp_h, resp_p = self.ends[e[k.E_FID]]
        return {"ts": utc(e[k.E_TS]), "ts_end": utc(ts_end), "count": count, "uid": uid, "orig_h": orig_h,
                "resp_h": resp_h, "resp_p": resp_p, "protocol": self.protocol, "action": action, "status": status,
                "attrs": {name: v if v.__class__ is str else str(v) for name, v in attrs.items() if v != ""}}


class FramedFlows(MovingFlows):
    """A path whose kernel is ``sensor.decode.fast.framed``'s scan of the protocol's frames (the
    kernel module's MIN_FRAME, FID_SHIFT and INITIAL), confirming one service (moving.SERVICE)."""

    def __init__(self, kernel: ModuleType, max_events: int, facts: Facts, table: FlowTable) -> None:
        super().__init__(kernel, kernel.INITIAL, max_events, facts, table)
        self.min_frame, self.fid_shift = kernel.MIN_FRAME, kernel.FID_SHIFT
        self._framed = framed.KERNELS.index(kernel)

    def _scan(self, *packets: np.ndarray | int) -> tuple[int, int]:
        return framed.scan(self._framed, *packets, self._flows, self._keys, self._vals, self._events, self._jobs,
                           self._cnt)
