"""The application layer's compiled S7comm path (``sensor.decode.fast.s7comm``).

Once a flow is detected as S7comm (ISO-on-TCP), each chunk's packets of it go to the numba kernel
at once, which writes one row of event columns per job, user-data request or unanswered answer;
at the interval's end the rows become wire.EVENTS dicts, one per event or folded with numpy
(``sensor.meter.fast_fold``). Read SZL answers are read by the Python decoder's parsers.

A flow whose segment the kernel does not take (see the kernel's docstring) goes on in Python from
that segment on, for good (``sensor.meter.fast_path``), with the SZL data units held too.
"""

from __future__ import annotations

import numpy as np

from sensor.decode import s7comm
from sensor.decode.fast import s7comm as k
from sensor.decode.spec import Event, Session, salvage
from sensor.meter.fast_path import MovingFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (96 bytes each), with the Python path's S7comm events (applayer.CAPPED)
SERVICES = ((k.SVC_COTP, "cotp"), (k.SVC_S7, "s7comm"))
ROSCTR = s7comm.ROSCTR


def _area(token: int) -> str:
    area = token >> 16
    return f"DB{token & 0xFFFF}" if area == 0x84 else s7comm.AREAS.get(area, f"0x{area:02x}")


class FastS7(MovingFlows):
    protocol = "s7comm"
    services = SERVICES
    min_frame = 7
    fid_shift = 20

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, (-1, -1, 0, 0, -1, -1, 0, 0, 0, 0), MAX_EVENTS, facts, table)
        self._szl: dict[int, Session] = {}  # SZL data units held per fid (Session.vars), as the decoder's

    def _forget(self, fid: int) -> None:
        self._szl.pop(fid, None)

    def _jobs_done(self, data: np.ndarray) -> None:
        """Read SZL answers the kernel found in ``data``: facts by s7comm.py's parsers."""
        for fid, ts, off, length, more, first, is_orig in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            session = self._szl.setdefault(fid, Session())
            facts = salvage(session, s7comm._szl_answer, bytes(data[off : off + length]), more, bool(first), session)
            self.errors += session.malformed
            session.malformed = 0
            self._note_facts(fid, ts, is_orig, facts)
        self._cnt[k.C_JOBS] = 0

    # -- to Python ------------------------------------------------------------------------

    def _pending_key(self, key: int) -> object:
        kind, code = key >> 16 & 0xF, key & 0xFFFF
        return ("job", code) if kind == k.K_JOB else ("userdata", code >> 8, code & 0xFF)

    def _dropped(self, marker: int) -> Event:
        return Event("", attrs={"szl_id": "-"} if marker == k.DROPPED_SZL else {})

    def _vars(self, fid: int) -> dict:
        held = self._szl.get(fid)
        return dict(held.vars) if held else {}

    # -- rows -----------------------------------------------------------------------------

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
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

    def _transaction(self, e: list[int]) -> dict[str, object]:
        return {"pdu_ref": e[k.E_REF], **super()._transaction(e)}
