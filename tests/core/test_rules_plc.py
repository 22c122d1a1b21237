"""The PLC rule's mapping of decoded functions to kinds for the protocols the corpus has no capture
of (SLMP remote run/stop, UMAS stop/start) and the cases that must not map (reads)."""

from __future__ import annotations

import pytest

from core.detect.rules.plc import kind_of

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass


def event(protocol: str, action: str, **attrs) -> dict:
    return {"protocol": protocol, "action": action, "attrs": attrs}


@pytest.mark.parametrize(("given", "kind"), [
    (event("slmp", "Remote Stop"), "plc_stop"), (event("slmp", "Remote Pause"), "plc_stop"),
    (event("slmp", "Remote Run"), "plc_start"), (event("slmp", "Device Read"), ""),
    (event("modbus", "PROGRAM_UNITY", umas_function="STOP_PLC"), "plc_stop"),
    (event("modbus", "PROGRAM_UNITY", umas_function="START_PLC"), "plc_start"),
    (event("modbus", "PROGRAM_UNITY", umas_function="UPLOAD_BLOCK"), "plc_program_change"),
    (event("modbus", "PROGRAM_UNITY", umas_function="READ_PLC_INFO"), ""),
    (event("s7comm", "PLC Control", pi_service="P_PROGRAM"), "plc_start"),
    (event("s7comm", "PLC Control", pi_service="_MODU"), ""),
    (event("cip", "Write Tag", **{"class": "0xa1"}), "firmware_change"),
    (event("cip", "Get Attribute List", **{"class": "0xa1"}), ""),
    (event("omron_fins", "Program Area Write"), "plc_program_change"),
    (event("modbus", "WRITE_SINGLE_REGISTER"), ""),  # a new function is the baseline's to judge
])
def test_functions_map_to_kinds(given, kind):
    assert kind_of(given) == kind
