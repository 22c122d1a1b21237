"""Which OT actions change what a controller does: stop/start, program transfer or edit, firmware,
writes. The PLC rule's vocabulary (core.detect.rules.plc) plus write functions of the industrial
protocols; the explorer marks these rows, detection raises alerts on the first four."""

from __future__ import annotations

from collections.abc import Mapping

from core.detect.rules.plc import FIRMWARE, PROGRAM, START, STOP, kind_of

WRITE = "write"
DANGERS = (STOP, START, PROGRAM, FIRMWARE, WRITE)
# protocols whose "write" functions set a controller's values (Modbus WRITE_*, FINS Memory Area Write, …)
WRITING_PROTOCOLS = frozenset({"modbus", "s7comm", "cip", "enip", "omron_fins", "slmp", "dnp3", "bacnet",
                               "iec104", "mms", "opcua", "ads", "hart_ip", "knxnet_ip", "cclink_ie_field_basic"})


def danger(protocol: str, action: str, attrs: Mapping[str, str]) -> str:
    """The kind of dangerous OT action an event is (one of DANGERS), or "" when it is none."""
    kind = kind_of({"protocol": protocol, "action": action, "attrs": attrs})
    if kind:
        return kind
    return WRITE if protocol in WRITING_PROTOCOLS and "write" in action.lower() else ""
