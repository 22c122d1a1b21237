"""The application layer's compiled EtherNet/IP-CIP path (``sensor.decode.fast.enip``).

Once a TCP flow is detected as EtherNet/IP, each chunk's packets of it go to the numba kernel at
once, which writes one row of event columns per encapsulation command or CIP service; at the
interval's end the rows become wire.EVENTS dicts (``sensor.meter.fast_path``), ``enip`` and ``cip``
events as the Python decoders name them. Tag names come from the kernel's arena once per distinct
name; answers of the Identity object are read by the Python decoder's parsers.

The tag tables are bounded whatever the traffic: only requests whose event is kept intern their tag,
and a segment that would intern past MAX_TAGS names or MAX_ARENA bytes moves its flow to Python
instead (output as the Python path's); once past half of either at an interval's end, every name
is forgotten (no row names one then).

A flow the kernel cannot follow goes on in Python for good, with its pending requests and the
Identity requests it still awaits (``session.vars["identity"]``, as ``sensor.decode.cip`` keeps them).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sensor.decode import cip, enip
from sensor.decode.fast import enip as k
from sensor.decode.fast import siphash
from sensor.decode.spec import Event, Session, salvage
from sensor.meter.fast_flows import grown, rehashed, take_flow
from sensor.meter.fast_path import MovingFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (112 bytes each), with the Python path's enip and cip events (applayer.CAPPED)
MAX_TAGS, MAX_ARENA = 1 << 16, 1 << 22  # tag names and their bytes the kernel holds at most


def _python_key(key: int, his: list[int]) -> object:
    """The Python decoder's key of a kernel key (its flow's bits taken off; ``his``: the flow's
    context high bits by slot): ("enip", command, context) for a command, ("rr", context) or
    ("unit", sequence count) for a CIP message, with the position of an embedded service."""
    kind, index, low = key >> 40 & 7, key >> 32 & 0xFF, key & 0xFFFFFFFF
    context = (max(his[key >> k.CTX_SHIFT & 3], 0) << 32 | low).to_bytes(8, "little")
    if kind == k.K_ENIP:
        return "enip", index, context
    message = ("rr", context) if kind == k.K_RR else ("unit", low)
    return (message, index) if index else message


def _asked(wanted: int) -> tuple[tuple[int, ...], str]:
    """An Identity request as the kernel's asked table holds it → as cip.events keeps it:
    (attributes, route)."""
    route = f"port {wanted >> k.PORT_SHIFT & 0xF} link {wanted >> k.LINK_SHIFT}" if wanted & k.ROUTED else ""
    return tuple(wanted >> (k.ID_BITS * i) & k.MAX_ID for i in range(wanted >> k.COUNT_SHIFT & 7)), route


class FastEnip(MovingFlows):
    protocol = "enip"
    services = ((k.SVC_ENIP, "enip"),)
    min_frame = 1  # an embedded CIP service may be one byte: a row per byte at most
    fid_shift = k.FID_SHIFT

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, k.INITIAL, MAX_EVENTS, facts, table)
        self._asked_keys = np.full(1 << 6, -1, np.int64)  # Identity requests awaiting their answer
        self._asked_vals = np.zeros(1 << 6, np.int64)
        self._tag_keys = np.full(1 << 8, -1, np.int64)  # tag names: hash → number
        self._tag_vals = np.zeros(1 << 8, np.int64)
        self._tag_at = np.zeros((1 << 7, 2), np.int64)  # number → (offset, length) in the arena
        self._arena = np.zeros(1 << 14, np.uint8)
        self._tags: list[str] = []
        self._cnt[k.C_MAX_TAGS], self._cnt[k.C_MAX_ARENA] = MAX_TAGS, MAX_ARENA
        self._cnt[k.C_K0 : k.C_K1 + 1] = np.array(siphash.secret(), np.uint64).view(np.int64)
        self._identity = Session()  # counts malformed Identity answers
        self._his: list[int] = []  # the context high bits of the flow moving out, by slot

    def _scan(self, *packets: np.ndarray | int) -> tuple[int, int]:
        return k.scan(*packets, self._flows, self._keys, self._vals, self._events, self._jobs, self._cnt,
                      self._asked_keys, self._asked_vals, self._tag_keys, self._tag_vals, self._tag_at, self._arena)

    def _grow(self, pdus: int) -> None:
        super()._grow(pdus)
        cnt = self._cnt
        if 2 * (cnt[k.C_ASKED] + pdus) > len(self._asked_keys):
            size = 1 << (2 * (int(cnt[k.C_ASKED]) + pdus)).bit_length()
            self._asked_keys, self._asked_vals = rehashed(self._asked_keys, self._asked_vals, size)
        max_tags, max_arena = int(cnt[k.C_MAX_TAGS]), int(cnt[k.C_MAX_ARENA])  # (the kernel interns no more)
        tags = min(int(cnt[k.C_TAGS]) + pdus, max_tags)
        if tags > len(self._tag_at):
            self._tag_at = grown(self._tag_at, tags, max_tags)
        if 2 * tags > len(self._tag_keys):
            size = 1 << (2 * tags - 1).bit_length()
            self._tag_keys, self._tag_vals = np.full(size, -1, np.int64), np.zeros(size, np.int64)
            k.reindex(self._tag_at, self._arena, cnt, self._tag_keys, self._tag_vals)
        nbytes = min(int(cnt[k.C_ARENA]) + pdus, max_arena)
        if nbytes > len(self._arena):
            self._arena = grown(self._arena, nbytes, max_arena)

    def _jobs_done(self, data: np.ndarray) -> None:
        """Name the tags interned by the last scan; read the Identity answers it found in ``data``."""
        for at, length in self._tag_at[len(self._tags) : self._cnt[k.C_TAGS]].tolist():
            self._tags.append(self._arena[at : at + length].tobytes().decode("latin-1"))
        session = self._identity
        for fid, ts, off, length, service, wanted, is_orig in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            facts = salvage(session, cip._identity_reply, _asked(wanted), service, data[off : off + length].tobytes())
            self._note_facts(fid, ts, is_orig, facts)
        self.errors += session.malformed
        session.malformed = 0
        self._cnt[k.C_JOBS] = 0

    # -- to Python ------------------------------------------------------------------------

    def move_out(self, fid: int) -> tuple[set[str], set[str], list[int | None], list[Event], dict, dict]:
        self._his = self._flows[fid, k.F_CTX : k.F_CTX + k.CTX_SLOTS].tolist()
        return super().move_out(fid)

    def _pending_key(self, key: int) -> object:
        at = _python_key(key, self._his)
        return at if key >> 40 & 7 == k.K_ENIP else (at, 0)

    def _vars(self, fid: int) -> dict:
        """The Identity requests the flow awaits, as cip.events keeps them."""
        return {"identity": {_python_key(key, self._his): _asked(wanted) for key, wanted in self._take_asked(fid)}}

    def _forget(self, fid: int) -> None:
        self._take_asked(fid)

    def _take_asked(self, fid: int) -> list[tuple[int, int]]:
        """The flow's Identity requests (kernel key without the flow's bits, attributes), taken out."""
        if not self._flows[fid, k.F_ASKED]:  # (how many the table holds)
            return []
        keys, wanted, self._asked_keys, self._asked_vals = take_flow(self._asked_keys, self._asked_vals, fid,
                                                                     k.FID_SHIFT)
        self._cnt[k.C_ASKED] -= len(keys)
        self._flows[fid, k.F_ASKED] = 0
        self._flows[fid, k.F_LIVE_ASKED : k.F_LIVE_ASKED + k.CTX_SLOTS] = 0
        return list(zip(keys.tolist(), wanted.tolist()))

    # -- interval end ---------------------------------------------------------------------

    def flush(self, fold: bool) -> pa.Table | list[dict]:
        rows = super().flush(fold)
        self._flows[: len(self.ends), k.F_LIVE : k.F_LIVE + k.CTX_SLOTS] = 0  # (the pending table is empty now)
        cnt = self._cnt
        if 2 * cnt[k.C_TAGS] > cnt[k.C_MAX_TAGS] or 2 * cnt[k.C_ARENA] > cnt[k.C_MAX_ARENA]:  # no row names a tag now
            self._tag_keys.fill(-1)
            self._cnt[k.C_TAGS] = self._cnt[k.C_ARENA] = 0
            self._tags = []
        return rows

    # -- rows -----------------------------------------------------------------------------

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        """(action, status, attributes but the sequence count and rtt) of an event row, valued as
        enip.py and cip.py value them."""
        status = e[k.E_STATUS]
        if e[k.E_PROTO] == k.P_ENIP:
            return (enip.COMMANDS[e[k.E_NAME]], "" if status < 0 else enip._status(status),
                    {"session": f"0x{e[k.E_SESSION]:08x}"})
        service, cls = e[k.E_NAME], e[k.E_CLASS]
        attrs: dict[str, object] = {"service": f"0x{service:02x}"}
        if cls >= 0:
            attrs["class"], attrs["class_name"] = f"0x{cls:02x}", cip.CLASSES.get(cls, "")
        for field, col in (("instance", k.E_INSTANCE), ("attribute", k.E_ATTRIBUTE)):
            if e[col] >= 0:
                attrs[field] = f"0x{e[col]:02x}"
        if e[k.E_TAG] >= 0:
            attrs["tag"] = self._tags[e[k.E_TAG]]
        attrs["enip_command"] = enip.COMMANDS[e[k.E_COMMAND]]
        if e[k.E_EXT] >= 0:
            attrs["extended_status"] = f"0x{e[k.E_EXT]:04x}"
        text = "" if status < 0 else "OK" if status == 0 else cip.STATUSES.get(status, f"unknown-0x{status:02x}")
        return cip.service_name(service, cls if cls >= 0 else None), text, attrs

    def _transaction(self, e: list[int]) -> dict[str, object]:
        seq = {"seq": e[k.E_SEQ]} if e[k.E_SEQ] >= 0 else {}
        return {**seq, **super()._transaction(e)}

    def _event(self, e: list[int]) -> Event:
        event = super()._event(e)
        event.protocol = "enip" if e[k.E_PROTO] == k.P_ENIP else "cip"
        return event

    def _row(self, e: list[int], count: int, ts_end: int, rtt: dict[str, str] | None = None) -> dict:
        row = super()._row(e, count, ts_end, rtt)
        if e[k.E_PROTO] == k.P_CIP:
            row["protocol"] = "cip"
        return row
