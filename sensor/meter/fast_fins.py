"""The application layer's compiled Omron FINS path for FINS over UDP (``sensor.decode.fast.fins``): a
detected FINS/UDP flow's datagrams go to the numba kernel a chunk at a time; its event rows read as
``sensor.decode.fins`` values them, and Controller Data Read answers are read by the decoder's own
parser (facts about their sender). FINS/TCP flows stay on the Python path. A flow the kernel cannot
hold moves to Python (``sensor.meter.fast_path``)."""

from __future__ import annotations

import numpy as np

from sensor.decode import fins
from sensor.decode.fast import fins as k
from sensor.meter.fast_path import MovingFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (96 bytes each), with the Python path's FINS events (applayer.CAPPED)


def _node(node: int) -> str:
    return f"{node >> 16}.{node >> 8 & 0xFF}.{node & 0xFF}"


def _status(end: int) -> str:
    return "" if end == k.STATUS_NONE else "OK" if end == 0 else f"0x{end:04x}"


class FastFins(MovingFlows):
    protocol = "omron_fins"
    transport = "udp"
    services = ((k.SERVICE, "omron_fins"),)
    min_frame = k.HEADER
    fid_shift = k.FID_SHIFT
    max_fid = k.MAX_FID  # flows held at once; a flow past them goes on in Python

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, k.INITIAL, MAX_EVENTS, facts, table)

    def _scan(self, *packets: np.ndarray | int) -> tuple[int, int]:
        return k.scan(*packets, self._flows, self._keys, self._vals, self._events, self._jobs, self._cnt, self.max_fid)

    def _jobs_done(self, data: np.ndarray) -> None:
        """Controller Data Read answers: the model and version their sender states."""
        for fid, ts, off, length, orig in self._jobs[: self._cnt[k.C_JOBS]].tolist():
            self._note_facts(fid, ts, orig, fins.controller_data(bytes(data[off : off + length])))
        self._cnt[k.C_JOBS] = 0

    def _pending_key(self, key: int) -> object:
        node = key & 0xFFFFFF
        return key >> 40 & 0xFF, key >> 24 & 0xFFFF, (node >> 16, node >> 8 & 0xFF, node & 0xFF)

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        kind, code = e[k.E_KIND], e[k.E_CODE]
        if kind == k.KIND_TCP:
            error = e[k.E_STATUS]
            return (fins.TCP_COMMANDS.get(code, f"unknown-{code}"), "OK" if error == 0 else f"0x{error:x}",
                    {"fins_tcp_command": code})
        attrs: dict[str, object] = {"command_code": f"0x{code:04x}"}
        if kind == k.KIND_COMMAND:
            attrs.update(destination=_node(e[k.E_DEST]), source=_node(e[k.E_SRC]))
            area = e[k.E_AREA]
            if area >= 0:
                attrs["memory_area"] = fins.MEMORY_AREAS.get(area, f"0x{area:02x}")
        return fins.COMMANDS.get(code, f"unknown-0x{code:04x}"), _status(e[k.E_STATUS]), attrs

    def _transaction(self, e: list[int]) -> dict[str, object]:
        sid = {"sid": e[k.E_SID]} if e[k.E_KIND] != k.KIND_TCP else {}
        return {**sid, **super()._transaction(e)}
