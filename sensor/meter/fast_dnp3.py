"""The application layer's compiled DNP3 path (``sensor.decode.fast.dnp3``; DNP3 over TCP): a detected
flow's packets go to the numba kernel a chunk at a time; its event rows read as ``sensor.decode.dnp3``
values them. A flow the kernel cannot follow moves to Python (``sensor.meter.fast_path``)."""

from __future__ import annotations

from sensor.decode import dnp3
from sensor.decode.fast import dnp3 as k
from sensor.meter.fast_path import FramedFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 18  # per interval (192 bytes each)
FUNCTIONS = [dnp3.FUNCTIONS.get(code, f"unknown-{code}") for code in range(256)]
VALUE_MASK = (1 << k.VALUE_BITS) - 1


def _label(word: int) -> str:
    """An object header word as dnp3._walk labels the header."""
    name, label = f"g{word >> 54}v{word >> 46 & 0xFF}", word >> 44 & 3
    a, b = word >> k.VALUE_BITS & VALUE_MASK, word & VALUE_MASK
    return name if label == k.LABEL_NONE else f"{name}[{a}-{b}]" if label == k.LABEL_RANGE else f"{name}[{a}]"


def _objects(words: list[int]) -> str:
    return ",".join(_label(word) for word in words if word)


class FastDnp3(FramedFlows):
    protocol = "dnp3"
    services = ((k.SERVICE, "dnp3_tcp"),)

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, MAX_EVENTS, facts, table)

    def _pending_key(self, key: int) -> object:
        return "dnp3", bool(key)

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        attrs: dict[str, object] = {"src": e[k.E_SRC], "dst": e[k.E_DST],
                                    "objects": _objects(e[k.E_OBJECTS : k.E_OBJECTS + k.MAX_HEADERS])}
        status, reply = "", e[k.E_REPLY]
        if reply >= 0:
            iin = e[k.E_IIN]
            status = "OK" if iin & 0x0007 == 0 else "IIN error"
            attrs.update(reply=FUNCTIONS[reply], iin=iin,
                         reply_objects=_objects(e[k.E_REPLY_OBJECTS : k.E_REPLY_OBJECTS + k.MAX_HEADERS]))
        return FUNCTIONS[e[k.E_FUNCTION]], status, attrs
