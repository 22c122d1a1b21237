"""The application layer's compiled BACnet/IP path (``sensor.decode.fast.bacnet``): a detected BACnet flow's
datagrams go to the numba kernel a chunk at a time; its event rows read as ``sensor.decode.bacnet``
values them; I-Am device and vendor ids and read-property(-multiple) answers become facts about their
sender through the decoder's own functions, which also read I-Have's object names and put segmented
Complex-ACKs back together (with a ``Session`` per flow for their parts). No flow moves to Python
(``sensor.meter.fast_path``'s base serves the rest)."""

from __future__ import annotations

import numpy as np

from sensor.decode import bacnet
from sensor.decode.fast import bacnet as k
from sensor.decode.spec import MALFORMED, Fact, Session
from sensor.meter.fast_path import MovingFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (152 bytes each), with the Python path's BACnet events (applayer.CAPPED)


def _names(table: tuple[str, ...], size: int = 256) -> list[str]:
    """bacnet._name of every code."""
    return [table[code] if code < len(table) else f"unknown-{code}" for code in range(size)]


CONFIRMED, UNCONFIRMED, NETWORK = _names(bacnet.CONFIRMED), _names(bacnet.UNCONFIRMED), _names(bacnet.NETWORK_MESSAGES)
OBJECT_TYPES = _names(bacnet.OBJECT_TYPES, 1024)
STATUS_TABLES = {k.STATUS_ERROR: bacnet.ERROR_CODES, k.STATUS_REJECT: bacnet.REJECT_REASONS,
                 k.STATUS_ABORT: bacnet.ABORT_REASONS}


def _status(status: int) -> str:
    if status < 0:
        return ""
    if status == k.STATUS_OK:
        return "OK"
    code = status & 0xFFFF_FFFF
    table = STATUS_TABLES[status - code]
    return table[code] if code < len(table) else f"unknown-{code}"


class FastBacnet(MovingFlows):
    protocol = "bacnet"
    transport = "udp"
    services = ((k.SERVICE, "bacnet"),)
    min_frame = k.MIN_DATAGRAM
    fid_shift = k.FID_SHIFT

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, k.INITIAL, MAX_EVENTS, facts, table)
        self._names: dict[str, int] = {}  # I-Have object names of the interval's rows → their numbers (E_NAME)
        self._by_number: list[str] = []
        self._segmented: dict[int, Session] = {}  # by fid: Complex-ACKs being put back together

    def _forget(self, fid: int) -> None:
        self._segmented.pop(fid, None)

    def _name(self, text: str) -> int:
        number = self._names.setdefault(text, len(self._by_number))
        if number == len(self._by_number):
            self._by_number.append(text)
        return number

    def _next_interval(self) -> None:
        super()._next_interval()
        self._names, self._by_number = {}, []

    def _jobs_done(self, data: np.ndarray) -> None:
        """I-Am ids and read-property answers: facts about their sender (none when relayed); I-Have's
        object names: their numbers in the rows."""
        for fid, ts, kind, orig, relayed, a, b, c in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            if kind == k.JOB_NAME:
                self._events[a, k.E_NAME] = self._name(bacnet.character_string(bytes(data[b : b + c])))
                continue
            if kind == k.JOB_I_AM:
                facts = [Fact("bacnet_device_id", str(a)), *bacnet.vendor_id_facts(b)]
            elif kind in (k.JOB_FIRST_SEGMENT, k.JOB_LATER_SEGMENT):
                session = self._segmented.setdefault(fid, Session("udp"))
                segment = bacnet.start_reassembly if kind == k.JOB_FIRST_SEGMENT else bacnet.later_segment
                facts = segment(bytes(data[b : b + c]), a, bool(orig), session)
                self.errors += session.malformed
                session.malformed = 0
            else:
                try:
                    facts = bacnet.device_facts(bytes(data[b : b + c]), a == k.READ_PROPERTY_MULTIPLE)
                except MALFORMED:  # (the answer's event stands: bacnet's salvage)
                    self.errors += 1
                    continue
            if not relayed:
                self._note_facts(fid, ts, orig, facts)
        self._cnt[k.C_JOBS] = 0

    def _pending_key(self, key: int) -> object:
        return key >> 1 & 0xFF, bool(key & 1)

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        kind, code = e[k.E_KIND], e[k.E_CODE]
        attrs: dict[str, object] = {"bvlc_function": bacnet.BVLC_FUNCTIONS[e[k.E_BVLC]]}
        if kind == k.KIND_BVLL:
            return attrs["bvlc_function"], "", attrs
        if kind == k.KIND_NETWORK:
            return NETWORK[code], "", {**attrs, "pdu_type": "NPDU"}
        attrs["pdu_type"] = bacnet.PDU_TYPES[e[k.E_PDU]]
        if kind == k.KIND_UNCONFIRMED:
            action = UNCONFIRMED[code]
        elif code >= 0:
            action = CONFIRMED[code]
        else:  # a reject or abort nobody asked for
            action = bacnet.PDU_TYPES[e[k.E_PDU]].split("_")[0].lower()
        if e[k.E_DEVICE] >= 0:
            attrs["device"] = e[k.E_DEVICE]
        if e[k.E_OBJECT] >= 0:
            attrs.update(object_type=OBJECT_TYPES[e[k.E_OBJECT]], instance=e[k.E_INSTANCE])
        if e[k.E_NAME] >= 0:
            attrs["object_name"] = self._by_number[e[k.E_NAME]]
        if e[k.E_PROPERTY] >= 0:
            attrs["property"] = bacnet.PROPERTIES.get(e[k.E_PROPERTY], str(e[k.E_PROPERTY]))
        if e[k.E_INDEX] >= 0:
            attrs["array_index"] = e[k.E_INDEX]
        if e[k.E_VENDOR] >= 0:
            attrs["vendor_id"] = e[k.E_VENDOR]
        if e[k.E_LOW] >= 0:
            attrs["range"] = f"{e[k.E_LOW]}-{e[k.E_HIGH]}"
        if e[k.E_REPLY] >= 0:
            attrs["reply"] = bacnet.PDU_TYPES[e[k.E_REPLY]]
        return action, _status(e[k.E_STATUS]), attrs

    def _transaction(self, e: list[int]) -> dict[str, object]:
        invoke = {"invoke_id": e[k.E_INVOKE]} if e[k.E_INVOKE] >= 0 else {}
        return {**invoke, **super()._transaction(e)}
