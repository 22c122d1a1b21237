"""The application layer's compiled S7comm path (``sensor.decode.fast.s7comm``).

Once a flow is detected as S7comm (ISO-on-TCP), each chunk's packets of it go to the numba kernel
at once, which writes one row of event columns per job, user-data request or unanswered answer;
at the interval's end the rows become wire.EVENTS dicts, one per event or folded with numpy
(``sensor.meter.fast_fold``). Read SZL answers are read by the Python decoder's parsers.

A flow whose segment the kernel does not take (see the kernel's docstring) goes on in Python from
that segment on, for good: ``move_out`` hands the app layer what the Python decoder would hold by
then — services, the responder's services noted this interval, the next sequence numbers, the
pending requests (as ``Event`` objects) and the interval's events of the flow (so that no event of
an interval is folded on both paths), and the SZL data units held.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np

from sensor.decode import s7comm
from sensor.decode.fast import modbus as pending
from sensor.decode.fast import s7comm as k
from sensor.decode.spec import Event, Session, salvage
from sensor.meter.fast_fold import folded_rows, seconds
from sensor.meter.fast_flows import CompiledFlows
from sensor.meter.flows import SEC, FlowTable
from sensor.meter.rows import Facts

CONF_SERVED = 80  # as applayer.CONF_SERVED
MAX_EVENTS = 1 << 19  # per interval (96 bytes each)
SERVICES = ((k.SVC_COTP, "cotp"), (k.SVC_S7, "s7comm"))
ROSCTR = s7comm.ROSCTR


def _utc(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / SEC, timezone.utc)


def _area(token: int) -> str:
    area = token >> 16
    return f"DB{token & 0xFFFF}" if area == 0x84 else s7comm.AREAS.get(area, f"0x{area:02x}")


def _services(bits: int) -> set[str]:
    return {name for bit, name in SERVICES if bits & bit}


class FastS7(CompiledFlows):
    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, (-1, -1, 0, 0, -1, -1, 0, 0, 0, 0), MAX_EVENTS)
        self.facts = facts
        self.table = table
        self.errors = 0  # malformed SZL answers since the caller last took them
        self._szl: dict[int, Session] = {}  # SZL data units held per fid (Session.vars), as the decoder's

    def _forget(self, fid: int) -> None:
        self._szl.pop(fid, None)

    # -- packets --------------------------------------------------------------------------

    def packets(self, buf: np.ndarray, fid: np.ndarray, is_orig: np.ndarray, ts: np.ndarray, off: np.ndarray,
                length: np.ndarray, end: np.ndarray, seq: np.ndarray, move: Callable[[int, np.ndarray], None]) -> None:
        """Decode the packets (in capture order) of placed S7comm flows; ``move(fid, positions)``
        hands a flow over to Python with its packets from the one the kernel did not take on."""
        start = 0
        while start < len(fid):
            status, i = k.scan(buf, fid, is_orig, ts, off, length, end, seq, start, self._flows, self._keys,
                               self._vals, self._events, self._jobs, self._cnt)
            self._szl_answers(buf)
            if status == k.GROW:
                self._grow(int(length[i]) // 7 + 1)
            elif status == k.MOVE:
                f = int(fid[i])
                self._flows[f, k.F_MOVED] = 1
                move(f, i + np.flatnonzero(fid[i:] == f))
                i += 1
            start = i
        self._tell_services()

    def _szl_answers(self, data: np.ndarray) -> None:
        """Read SZL answers the kernel found in ``data``: facts by s7comm.py's parsers."""
        for fid, ts, off, length, more, first, is_orig in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            session = self._szl.setdefault(fid, Session())
            facts = salvage(session, s7comm._szl_answer, bytes(data[off : off + length]), more, bool(first), session)
            self.errors += session.malformed
            session.malformed = 0
            uid, orig_h, resp_h, _ = self.ends[fid]
            for fact in facts:
                ip = orig_h if bool(is_orig) == fact.about_sender else resp_h
                self.facts.add(ts / SEC, "", ip, fact.attribute, fact.value, "s7comm", fact.confidence)
        self._cnt[k.C_JOBS] = 0

    def _tell_services(self) -> None:
        n = len(self.ends)
        for fid in np.flatnonzero(self._flows[:n, k.F_SERVICES] != self._flows[:n, k.F_TOLD]).tolist():
            bits = int(self._flows[fid, k.F_SERVICES])
            self._flows[fid, k.F_TOLD] = bits
            if not self._flows[fid, k.F_MOVED]:  # (a moved flow's were told as it moved)
                self.table.set_service(int(self._flows[fid, k.F_SLOT]), ",".join(sorted(_services(bits))))

    def take_errors(self) -> int:
        errors, self.errors = self.errors, 0
        return errors

    # -- to Python ------------------------------------------------------------------------

    def move_out(self, fid: int) -> tuple[set[str], set[str], list[int | None], list[Event], dict, dict]:
        """What the Python decoder would hold for the flow now: (services, services served this
        interval (their facts noted here), next sequence numbers, the interval's events, pending
        requests, session vars); the flow leaves the compiled path."""
        flow = self._flows[fid].tolist()
        served = self._note_served(fid)
        n = self._cnt[k.C_EVENTS]
        mine = np.flatnonzero(self._events[:n, k.E_FID] == fid)
        events = {row: self._event(self._events[row].tolist()) for row in mine.tolist()}
        self._events[mine, k.E_FID] = -1  # rows now the app layer's
        keys = self._keys
        taken = np.flatnonzero((keys >= 0) & (keys >> 20 == fid))
        asked: dict[object, Event] = {}
        for key, row in zip(keys[taken].tolist(), self._vals[taken].tolist()):
            kind, code = key >> 16 & 0xF, key & 0xFFFF
            at = ("job", code) if kind == k.K_JOB else ("userdata", code >> 8, code & 0xFF)
            asked[at] = events[row] if row >= 0 else Event("", attrs={"szl_id": "-"} if row == k.DROPPED_SZL else {})
        if len(taken):
            kept_keys, kept_vals = keys.copy(), self._vals.copy()
            kept_keys[taken] = -1
            self._keys, self._vals = np.full(len(keys), -1, np.int64), np.zeros(len(keys), np.int64)
            pending.rehash(kept_keys, kept_vals, self._keys, self._vals)
            self._cnt[k.C_PENDING] -= len(taken)
        if flow[k.F_SERVICES] != flow[k.F_TOLD]:  # the flow table learns what the decoder would have told it
            self.table.set_service(flow[k.F_SLOT], ",".join(sorted(_services(flow[k.F_SERVICES]))))
        held = self._szl.get(fid)
        seqs = [None if s < 0 else s for s in flow[k.F_SEQ : k.F_SEQ + 2]]
        self.release(fid)
        return (_services(flow[k.F_SERVICES]), served, seqs, list(events.values()), asked,
                dict(held.vars) if held else {})

    def _note_served(self, fid: int) -> set[str]:
        """protocol_served facts for what the flow's responder served this interval; their names."""
        bits, names = int(self._flows[fid, k.F_SERVED]), set()
        for i, (bit, name) in enumerate(SERVICES):
            if bits & bit:
                at = self._flows[fid, k.F_SERVED_AT + i] / SEC
                self.facts.add(at, "", self.ends[fid][2], "protocol_served", name, "s7comm", CONF_SERVED)
                names.add(name)
        self._flows[fid, k.F_SERVED] = 0
        return names

    # -- interval end ---------------------------------------------------------------------

    def flush(self, fold: bool) -> list[dict]:
        """The interval's events (wire.EVENTS dicts, folded or one per event); notes which responders
        served what; forgets pending requests."""
        n = len(self.ends)
        for fid in np.flatnonzero(self._flows[:n, k.F_SERVED]).tolist():
            self._note_served(fid)
        events = self._events[: self._cnt[k.C_EVENTS]]
        events = events[events[:, k.E_FID] >= 0]
        rows = folded_rows(events, list(k.KEY_COLS), k.E_TS, k.E_RTT, self._row) if fold else \
            [self._row(e, 1, e[k.E_TS]) for e in events.tolist()]
        self._flows[:n, k.F_PENDING] = 0
        self._keys.fill(-1)
        self.dropped = int(self._cnt[k.C_DROPPED])
        self._cnt[: k.C_MAX_EVENTS] = 0
        return rows

    @staticmethod
    def _fields(e: list[int]) -> tuple[str, str, dict[str, object]]:
        """(action, status, attributes but the PDU reference and rtt) of an event row, valued as
        s7comm.py values them."""
        rosctr, name, status = e[k.E_ROSCTR], e[k.E_NAME], e[k.E_STATUS]
        attrs: dict[str, object] = {"rosctr": ROSCTR[rosctr]}
        if rosctr == k.USERDATA:
            group, sub = name >> 8, name & 0xFF
            action = s7comm.USERDATA_FUNCTIONS.get((group, sub), f"unknown-{group}/{sub}")
            attrs["group"] = s7comm.USERDATA_GROUPS.get(group, str(group))
            if e[k.E_A1] >= 0:
                attrs["szl_id"], attrs["szl_index"] = f"0x{e[k.E_A1]:04x}", f"0x{e[k.E_A2]:04x}"
            text = "" if status < 0 else "OK" if status == 0 else "Parameter Error"
        else:
            action = s7comm._function(name)
            if rosctr == k.JOB and name in (0x04, 0x05):
                attrs["items"] = e[k.E_A1]
                attrs["areas"] = ",".join(_area(t) for t in e[k.E_A2 : k.E_A5 + 1] if t >= 0)
            elif rosctr == k.JOB and name == 0xF0:
                attrs["pdu_size"] = e[k.E_A1]
            text = "" if status < 0 else s7comm._error_text(status)
        if status > 0:
            attrs["error_code"] = f"0x{status:04x}"
        return action, text, attrs

    def _event(self, e: list[int]) -> Event:
        """An event row as the Python decoder's Event (for a flow moving to Python)."""
        action, status, attrs = self._fields(e)
        attrs = {"rosctr": attrs.pop("rosctr"), "pdu_ref": e[k.E_REF], **attrs}
        if e[k.E_RTT] >= 0:
            attrs["rtt"] = seconds(e[k.E_RTT])
        return Event(action, status, attrs, ts=e[k.E_TS] / SEC)

    def _row(self, e: list[int], count: int, ts_end: int, rtt: dict[str, str] | None = None) -> dict:
        """A wire.EVENTS dict: one event with its PDU reference and rtt, or (``rtt`` given) a fold."""
        action, status, attrs = self._fields(e)
        if rtt is None:
            attrs["pdu_ref"] = e[k.E_REF]
            if e[k.E_RTT] >= 0:
                attrs["rtt"] = seconds(e[k.E_RTT])
        else:
            attrs.update(rtt)
        uid, orig_h, resp_h, resp_p = self.ends[e[k.E_FID]]
        return {"ts": _utc(e[k.E_TS]), "ts_end": _utc(ts_end), "count": count, "uid": uid, "orig_h": orig_h,
                "resp_h": resp_h, "resp_p": resp_p, "protocol": "s7comm", "action": action, "status": status,
                "attrs": {name: v if v.__class__ is str else str(v) for name, v in attrs.items() if v != ""}}
