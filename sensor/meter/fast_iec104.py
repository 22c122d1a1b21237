"""The application layer's compiled IEC 60870-5-104 path (``sensor.decode.fast.iec104``): a detected
IEC 104 flow's packets go to the numba kernel a chunk at a time; its event rows read as
``sensor.decode.iec104`` values them. A flow the kernel cannot follow moves to Python
(``sensor.meter.fast_path``)."""

from __future__ import annotations

from sensor.decode import iec104
from sensor.decode.fast import iec104 as k
from sensor.decode.spec import Event
from sensor.meter.fast_fold import seconds
from sensor.meter.fast_path import FramedFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (104 bytes each), with the Python path's IEC 104 events (applayer.CAPPED)
TYPES = [iec104.TYPES.get(kind, f"unknown-{kind}") for kind in range(256)]
CAUSES = [iec104.CAUSES.get(cause, f"unknown-{cause}") for cause in range(64)]
STATUS = {k.STATUS_NONE: "", k.STATUS_OK: "OK", k.STATUS_NEGATIVE: "negative"}


class FastIec104(FramedFlows):
    protocol = "iec104"
    services = ((k.SERVICE, "iec104"),)

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, MAX_EVENTS, facts, table)

    def _pending_key(self, key: int) -> object:
        return (key >> 40 & 0xFF, key >> 24 & 0xFFFF, key & 0xFFFFFF), bool(key >> 48 & 1)

    def _dropped(self, marker: int) -> Event:
        return Event("", attrs={"rtt": seconds(0)} if marker == k.DROPPED_ANSWERED else {})

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        if e[k.E_FORMAT] == k.FORMAT_U:
            return iec104.U_FUNCTIONS[e[k.E_TYPE]], "", {"format": "U"}
        cause = e[k.E_CAUSE]
        attrs: dict[str, object] = {"format": "I", "cot": CAUSES[cause & 0x3F], "common_address": e[k.E_COMMON],
                                    "ioa": e[k.E_IOA], "objects": e[k.E_OBJECTS], "originator": e[k.E_ORIGINATOR]}
        if cause & 0x80:
            attrs["test"] = 1
        if e[k.E_REPLY] >= 0:
            attrs["reply"] = CAUSES[e[k.E_REPLY]]
        return TYPES[e[k.E_TYPE]], STATUS[e[k.E_STATUS]], attrs

    def _transaction(self, e: list[int]) -> dict[str, object]:
        out = super()._transaction(e)
        if e[k.E_TERM_RTT] >= 0:
            out["term_rtt"] = seconds(e[k.E_TERM_RTT])
        return out
