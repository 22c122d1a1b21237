"""The application layer's compiled Modbus/TCP path (``sensor.decode.fast.modbus``).

Once a flow is detected as Modbus, its packets skip the per-packet Python loop: each chunk's
Modbus packets go to the numba kernel at once, which writes one row of event columns per request
(or unanswered response). At the interval's end the rows become a wire.EVENTS table, built column
by column (``sensor.meter.eventcols``), either one row per event, as the Python decoder's events
would be, or already folded (``fold=True``) with numpy into exactly the rows
``sensor.meter.fold.fold_events`` makes of those: no Python object per event. An interval of
FEW_ROWS rows or fewer (a plant's polls folded) hands them over as dicts instead, which cost
less than the table's Arrow arrays.

Python still reassembles the segments the kernel does not take (frames split across segments,
partial retransmissions, truncated captures: ``Stream``) and reads identity answers with the
Python decoder's parsers; protocol_served facts and malformed-PDU counts are as the Python path's.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sensor.decode import modbus
from sensor.decode.fast import modbus as k
from sensor.decode.spec import MALFORMED
from sensor.decode.stream import Stream
from sensor.meter.eventcols import NUMBER, SECONDS, TEXT, attrs_map, events_table, in_slices, names
from sensor.meter.fast_fold import Groups, each_alone, group_columns, seconds, utc
from sensor.meter.fast_flows import CompiledFlows
from sensor.meter.flows import SEC, FlowTable
from sensor.meter.rows import Facts

CONF_SERVED = 80  # as applayer.CONF_SERVED
MAX_EVENTS = 1 << 17  # per interval (96 bytes each), with the Python path's Modbus events (applayer.CAPPED)
FEW_ROWS = 64  # an interval's rows handed over as dicts at most (more: a table)
NAMES = tuple(modbus.function_name(code) for code in range(256))
UMAS_NAMES = tuple(modbus.UMAS_FUNCTIONS.get(code, f"unknown-{code}") for code in range(256))
STATUS_NAMES = ("", *(modbus.EXCEPTIONS.get(code, f"unknown-{code}") for code in range(k.STATUS_NONE + 1, k.STATUS_OK)),
                "OK")  # by status - STATUS_NONE
IDENTITY = {k.JOB_DEVICE_ID: modbus.device_id_facts, k.JOB_UMAS_ID: modbus.umas_id_facts}
KEY_COLS = [k.E_FID, k.E_NAME, k.E_STATUS, k.E_UNIT, k.E_LAYOUT, k.E_V1, k.E_V2, k.E_V3, k.E_V4]  # fold.py's _key
# the numeric request attributes in the order a row's attrs name them: (name, value column, layouts that have it)
_NAMED = dict.fromkeys((name, i) for layout, attrs in enumerate(k.LAYOUT_ATTRS) if layout != k.L_UMAS
                       for i, name in enumerate(attrs))
REQUEST_ATTRS = [(name, k.E_V1 + i, [layout for layout, attrs in enumerate(k.LAYOUT_ATTRS)
                                     if attrs[i : i + 1] == (name,)]) for name, i in _NAMED]
LAYOUT_HAS = np.array([[layout in layouts for _, _, layouts in REQUEST_ATTRS] for layout in range(len(k.LAYOUT_ATTRS))])
LAYOUT_NAMED = [[(name, col) for name, col, layouts in REQUEST_ATTRS if layout in layouts]  # by layout
                for layout in range(len(k.LAYOUT_ATTRS))]


class FastModbus(CompiledFlows):
    protocol = "modbus"

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, (-1, -1, 0, 0, -1, 0, 0), MAX_EVENTS)
        self.facts = facts
        self.table = table
        self.errors = 0  # malformed PDUs since the caller last took them
        self._streams: dict[tuple[int, int], Stream] = {}  # unfinished PDUs Python's Stream holds

    def add(self, ends: tuple[str, str, str, int], slot: int) -> int:
        self.table.set_service(slot, "modbus")  # as the Python decoder's first PDU would
        return super().add(ends, slot)

    def _forget(self, fid: int) -> None:
        self._streams.pop((fid, 0), None)
        self._streams.pop((fid, 1), None)

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

    def _identities(self, data: np.ndarray) -> None:
        """Identity answers the kernel found in ``data``: facts about the responder, by modbus.py's parsers."""
        for fid, ts, off, length, kind in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            try:
                facts = IDENTITY[kind](bytes(data[off : off + length]))
            except MALFORMED:
                self.errors += 1
                continue
            for fact in facts:
                self.facts.add(ts / SEC, "", self.ends.resp_h(fid), fact.attribute, fact.value, "modbus", fact.confidence)
        self._cnt[k.C_JOBS] = 0

    def take_errors(self) -> int:
        errors, self.errors = self.errors + int(self._cnt[k.C_ERRORS]), 0
        self._cnt[k.C_ERRORS] = 0
        return errors

    # -- interval end ---------------------------------------------------------------------

    def flush(self, fold: bool) -> pa.Table | list[dict]:
        """The interval's events (a wire.EVENTS part: folded or one row per event); notes which
        responders served Modbus; forgets pending requests."""
        n = len(self.ends)
        for fid, served in enumerate(self._flows[:n, k.F_SERVED].tolist()):
            if served >= 0:
                self.facts.add(served / SEC, "", self.ends.resp_h(fid), "protocol_served", "modbus", "modbus", CONF_SERVED)
        events = self._events[: self._cnt[k.C_EVENTS]]

        def build() -> pa.Table | list[dict]:
            # in time order; g.row: a row of each group, whose flow is all of the group's (E_FID is in the key)
            g = group_columns(events, KEY_COLS, k.E_TS, k.E_RTT) if fold else each_alone(events, k.E_TS, k.E_RTT).sorted()
            if len(g.row) <= FEW_ROWS:
                return self._dicts(events[g.row], g)
            table = in_slices(len(g.row), lambda lo, hi: self._table(events[g.row[lo:hi]], g.part(lo, hi)))
            return self._part(table, events[g.row, k.E_FID])
        part = self._unless_faulty(len(events), build, []) if len(events) else []
        self._flows[:n, k.F_SERVED] = -1
        self._flows[:n, k.F_PENDING] = 0
        self._next_interval()
        return part

    def _dicts(self, rows: np.ndarray, g: Groups) -> list[dict]:
        """The groups' wire.EVENTS rows as dicts, as ``_table`` makes them (``rows``: a row of each)."""
        out = []
        for e, count, first, last, rtt_n, rtt_mean, rtt_max in zip(rows.tolist(), g.count.tolist(), g.first.tolist(),
                                                                   g.last.tolist(), g.rtt_n.tolist(),
                                                                   g.rtt_mean().tolist(), g.rtt_max.tolist()):
            layout = e[k.E_LAYOUT]
            attrs = {"tid": str(e[k.E_TID])} if count == 1 else {}
            attrs["unit"] = str(e[k.E_UNIT])
            for name, col in LAYOUT_NAMED[layout]:
                attrs[name] = str(e[col])
            if layout == k.L_UMAS:
                attrs["umas_function"] = UMAS_NAMES[e[k.E_V1]]
            if count == 1 and e[k.E_RTT] >= 0:
                attrs["rtt"] = seconds(e[k.E_RTT])
            elif count > 1 and rtt_n:
                attrs["rtt"], attrs["rtt_max"] = seconds(rtt_mean), seconds(rtt_max)
            uid, orig_h, resp_h, resp_p = self.ends[e[k.E_FID]]
            out.append({"ts": utc(first), "ts_end": utc(last), "count": count, "uid": uid, "orig_h": orig_h,
                         "resp_h": resp_h, "resp_p": resp_p, "protocol": "modbus", "action": NAMES[e[k.E_NAME]],
                         "status": STATUS_NAMES[e[k.E_STATUS] - k.STATUS_NONE], "attrs": attrs})
        return out

    def _table(self, e: np.ndarray, g: Groups) -> pa.Table:
        """The groups' wire.EVENTS rows, in their order (``e``: a row of each): an event alone with its
        transaction id and rtt, a fold with the mean and maximum of its answered rtts."""
        alone, layout = g.count == 1, e[:, k.E_LAYOUT]
        answered = np.where(alone, e[:, k.E_RTT] >= 0, g.rtt_n > 0)
        has, umas = LAYOUT_HAS[layout], layout == k.L_UMAS
        attrs = attrs_map([
            ("tid", NUMBER, e[:, k.E_TID], alone),
            ("unit", NUMBER, e[:, k.E_UNIT], True),
            *((name, NUMBER, e[:, col], has[:, at]) for at, (name, col, _) in enumerate(REQUEST_ATTRS)),
            ("umas_function", TEXT, names(UMAS_NAMES, np.where(umas, e[:, k.E_V1], 0)), umas),
            ("rtt", SECONDS, np.where(alone, e[:, k.E_RTT], g.rtt_mean()), answered),
            ("rtt_max", SECONDS, g.rtt_max, answered & ~alone),
        ], len(e))
        return events_table(g.first, g.last, g.count, self.ends, e[:, k.E_FID], "modbus", names(NAMES, e[:, k.E_NAME]),
                            names(STATUS_NAMES, e[:, k.E_STATUS] - k.STATUS_NONE), attrs)
