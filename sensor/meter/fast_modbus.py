"""The application layer's compiled Modbus/TCP path (``sensor.decode.fast.modbus``).

Once a flow is detected as Modbus, its packets skip the per-packet Python loop: each chunk's
Modbus packets go to the numba kernel at once, which writes one row of event columns per request
(or unanswered response). At the interval's end the rows become wire.EVENTS dicts, either one per
event, as the Python decoder's events would be, or already folded (``fold=True``) with numpy into
exactly the rows ``sensor.meter.fold.fold_events`` makes of those, without a dict per PDU.

Python still reassembles the segments the kernel does not take (frames split across segments,
partial retransmissions, truncated captures: ``Stream``) and reads identity answers with the
Python decoder's parsers; protocol_served facts and malformed-PDU counts are as the Python path's.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from sensor.decode import modbus
from sensor.decode.fast import modbus as k
from sensor.decode.spec import MALFORMED
from sensor.decode.stream import Stream
from sensor.meter.fast_fold import folded_rows, seconds
from sensor.meter.flows import SEC
from sensor.meter.rows import Facts

CONF_SERVED = 80  # as applayer.CONF_SERVED
MAX_EVENTS = 1 << 19  # per interval (96 bytes each); the Python path keeps 50,000 of all protocols
NAMES = [modbus.function_name(code) for code in range(256)]
UMAS_NAMES = [modbus.UMAS_FUNCTIONS.get(code, f"unknown-{code}") for code in range(256)]
STATUS_NAMES = {k.STATUS_NONE: "", k.STATUS_OK: "OK",
                **{code: modbus.EXCEPTIONS.get(code, f"unknown-{code}") for code in range(256)}}
IDENTITY = {k.JOB_DEVICE_ID: modbus.device_id_facts, k.JOB_UMAS_ID: modbus.umas_id_facts}
KEY_COLS = [k.E_FID, k.E_NAME, k.E_STATUS, k.E_UNIT, k.E_LAYOUT, k.E_V1, k.E_V2, k.E_V3, k.E_V4]  # fold.py's _key


def _utc(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / SEC, timezone.utc)


class FastModbus:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.errors = 0  # malformed PDUs since the caller last took them
        self.dropped = 0  # events over MAX_EVENTS in the interval flushed last
        self.ends: list[tuple[str, str, str, int]] = []  # (uid, orig_h, resp_h, resp_p) by fid
        self._free: list[int] = []
        self._flows = np.empty((0, k.FLOW_COLS), np.int64)
        self._by_slot = np.full(0, -1, np.int64)  # fid of each flow-table slot holding a Modbus flow
        self._streams: dict[tuple[int, int], Stream] = {}  # unfinished PDUs Python's Stream holds
        self._keys = np.full(1 << 12, -1, np.int64)  # pending requests: fid << 16 | tid → event row
        self._vals = np.zeros(1 << 12, np.int64)
        self._events = np.zeros((1 << 14, k.EVENT_COLS), np.int64)
        self._jobs = np.zeros((1 << 8, k.JOB_COLS), np.int64)
        self._cnt = np.zeros(k.COUNTERS, np.int64)
        self._cnt[k.C_MAX_EVENTS] = MAX_EVENTS

    # -- flows ----------------------------------------------------------------------------

    def add(self, ends: tuple[str, str, str, int], slot: int) -> int:
        """A flow detected as Modbus, in the flow-table slot ``slot``: its fid."""
        if self._free:
            fid = self._free.pop()
            self.ends[fid] = ends
        else:
            fid = len(self.ends)
            self.ends.append(ends)
            if fid >= len(self._flows):
                self._flows = np.concatenate([self._flows, np.empty((max(64, fid), k.FLOW_COLS), np.int64)])
        self._flows[fid] = (-1, -1, 0, 0, -1, 0, slot)
        if slot >= len(self._by_slot):
            grown = np.full(max(slot + 1, 2 * len(self._by_slot)), -1, np.int64)
            grown[: len(self._by_slot)] = self._by_slot
            self._by_slot = grown
        self._by_slot[slot] = fid
        return fid

    def fids(self, slots: np.ndarray) -> np.ndarray:
        """The fid of each slot's Modbus flow, else -1."""
        out = np.full(len(slots), -1, np.int64)
        inside = slots < len(self._by_slot)
        out[inside] = self._by_slot[slots[inside]]
        return out

    def forget_slots(self, slots: list[int]) -> None:
        inside = [slot for slot in slots if slot < len(self._by_slot)]
        self._by_slot[inside] = -1

    def release(self, fid: int) -> None:
        """The flow ended (after the interval's flush): its slot may hold another flow next."""
        slot = self._flows[fid, k.F_SLOT]
        if slot < len(self._by_slot) and self._by_slot[slot] == fid:  # not since taken by another flow
            self._by_slot[slot] = -1
        self._streams.pop((fid, 0), None)
        self._streams.pop((fid, 1), None)
        self._free.append(fid)

    # -- packets --------------------------------------------------------------------------

    def packets(self, buf: np.ndarray, fid: np.ndarray, is_orig: np.ndarray, ts: np.ndarray, off: np.ndarray,
                length: np.ndarray, end: np.ndarray, seq: np.ndarray) -> None:
        """Decode the packets (in capture order) of placed Modbus flows."""
        start = 0
        while start < len(fid):
            status, i = k.scan(buf, fid, is_orig, ts, off, length, end, seq, start, self._flows, self._keys,
                               self._vals, self._events, self._jobs, self._cnt)
            self._identities(buf)
            if status == k.GROW:
                self._grow(int(length[i]) // 8 + 1)
            elif status == k.FALLBACK:
                self._reassemble(buf, int(fid[i]), bool(is_orig[i]), int(ts[i]), int(off[i]), int(length[i]),
                                 int(end[i]), int(seq[i]))
                i += 1
            start = i

    def _reassemble(self, buf, fid: int, is_orig: bool, ts: int, off: int, length: int, end: int, seq: int) -> None:
        """One segment through Python's Stream, as the Python path reassembles every segment."""
        d = 0 if is_orig else 1
        stream = self._streams.pop((fid, d), None)
        if stream is None:
            stream = Stream()
            if self._flows[fid, k.F_SEQ + d] >= 0:
                stream.next_seq = int(self._flows[fid, k.F_SEQ + d])
        try:
            pdus = stream.push(seq, bytes(buf[off : min(off + length, end)]), length, modbus.frame)
        except MALFORMED:
            pdus = []
            self.errors += 1
        self._flows[fid, k.F_SEQ + d] = -1 if stream.next_seq is None else stream.next_seq
        self._flows[fid, k.F_DIRTY + d] = bool(stream.buf)
        if stream.buf:
            self._streams[fid, d] = stream
        if pdus:
            self._grow(len(pdus))
            data = np.frombuffer(b"".join(pdus), np.uint8)
            sizes = np.array([len(pdu) for pdu in pdus], np.int64)
            k.decode_pdus(data, np.cumsum(sizes) - sizes, sizes, fid, is_orig, ts, self._flows, self._keys,
                          self._vals, self._events, self._jobs, self._cnt)
            self._identities(data)

    def _grow(self, pdus: int) -> None:
        """Make room for ``pdus`` more PDUs."""
        cnt = self._cnt
        while cnt[k.C_EVENTS] + pdus > len(self._events) and len(self._events) < MAX_EVENTS:
            self._events = np.concatenate([self._events, np.zeros_like(self._events)])
        if cnt[k.C_JOBS] + pdus > len(self._jobs):
            self._jobs = np.zeros((2 * (cnt[k.C_JOBS] + pdus), k.JOB_COLS), np.int64)  # taken after every call
        size = len(self._keys)
        while 2 * (cnt[k.C_PENDING] + pdus) > size:
            size *= 2
        if size != len(self._keys):
            keys, vals = np.full(size, -1, np.int64), np.zeros(size, np.int64)
            k.rehash(self._keys, self._vals, keys, vals)
            self._keys, self._vals = keys, vals

    def _identities(self, data: np.ndarray) -> None:
        """Identity answers the kernel found in ``data``: facts about the responder, by modbus.py's parsers."""
        for fid, ts, off, length, kind in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            try:
                facts = IDENTITY[kind](bytes(data[off : off + length]))
            except MALFORMED:
                self.errors += 1
                continue
            for fact in facts:
                self.facts.add(ts / SEC, "", self.ends[fid][2], fact.attribute, fact.value, "modbus", fact.confidence)
        self._cnt[k.C_JOBS] = 0

    def take_errors(self) -> int:
        errors, self.errors = self.errors + int(self._cnt[k.C_ERRORS]), 0
        self._cnt[k.C_ERRORS] = 0
        return errors

    # -- interval end ---------------------------------------------------------------------

    def flush(self, fold: bool) -> list[dict]:
        """The interval's events (wire.EVENTS dicts, folded or one per event); notes which responders
        served Modbus; forgets pending requests."""
        n = len(self.ends)
        for fid, served in enumerate(self._flows[:n, k.F_SERVED].tolist()):
            if served >= 0:
                self.facts.add(served / SEC, "", self.ends[fid][2], "protocol_served", "modbus", "modbus", CONF_SERVED)
        events = self._events[: self._cnt[k.C_EVENTS]]
        rows = folded_rows(events, KEY_COLS, k.E_TS, k.E_RTT, self._row) if fold else \
            [self._row(e, 1, e[k.E_TS]) for e in events.tolist()]
        self._flows[:n, k.F_SERVED] = -1
        self._flows[:n, k.F_PENDING] = 0
        self._keys.fill(-1)
        self.dropped = int(self._cnt[k.C_DROPPED])
        self._cnt[: k.C_MAX_EVENTS] = 0
        return rows

    def _row(self, e: list[int], count: int, ts_end: int, rtt: dict[str, str] | None = None) -> dict:
        """A wire.EVENTS dict: one event with its transaction id and rtt, or (``rtt`` given) a fold."""
        uid, orig_h, resp_h, resp_p = self.ends[e[k.E_FID]]
        layout = e[k.E_LAYOUT]
        attrs = {} if rtt is not None else {"tid": str(e[k.E_TID])}
        attrs["unit"] = str(e[k.E_UNIT])
        if layout == k.L_UMAS:
            attrs["umas_function"] = UMAS_NAMES[e[k.E_V1]]
        else:
            for i, name in enumerate(k.LAYOUT_ATTRS[layout]):
                attrs[name] = str(e[k.E_V1 + i])
        if rtt is not None:
            attrs.update(rtt)
        elif e[k.E_RTT] >= 0:
            attrs["rtt"] = seconds(e[k.E_RTT])
        return {"ts": _utc(e[k.E_TS]), "ts_end": _utc(ts_end), "count": count, "uid": uid, "orig_h": orig_h,
                "resp_h": resp_h, "resp_p": resp_p, "protocol": "modbus", "action": NAMES[e[k.E_NAME]],
                "status": STATUS_NAMES[e[k.E_STATUS]], "attrs": attrs}
