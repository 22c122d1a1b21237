"""PLC operating-mode changes, program transfers and firmware-update commands, from the decoders'
function names: S7comm, UMAS (Modbus function 90), Modicon programming functions, CIP, Omron FINS,
MELSEC SLMP and DNP3."""

from __future__ import annotations

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, events, macs
from sensor.wire import Batch

STOP, START, PROGRAM, FIRMWARE = "plc_stop", "plc_start", "plc_program_change", "firmware_change"

# (protocol, action) → kind, where the function name says it all
COMMANDS: dict[tuple[str, str], str] = {
    ("s7comm", "PLC Stop"): STOP,
    **{("s7comm", a): PROGRAM for a in ("Request Download", "Download Block", "Download Ended",
                                        "Start Upload", "Upload", "End Upload")},
    ("cip", "Stop"): STOP, ("cip", "Start"): START,
    ("omron_fins", "Stop"): STOP, ("omron_fins", "Run"): START,
    **{("omron_fins", a): PROGRAM for a in ("Program Area Write", "Program Area Clear", "Program Area Read",
                                            "Program Area File Transfer")},
    ("slmp", "Remote Stop"): STOP, ("slmp", "Remote Pause"): STOP, ("slmp", "Remote Run"): START,
    ("dnp3", "STOP_APPL"): STOP, ("dnp3", "START_APPL"): START,
    # Modicon programming functions (Modbus 40–43, 126) load or read ladder logic
    **{("modbus", a): PROGRAM for a in ("PROGRAM_484", "PROGRAM_584_984", "PROGRAM_584_984_2",
                                        "PROGRAM_884_U84", "PROGRAM_CONCEPT")},
    ("modbus", "FIRMWARE_REPLACEMENT"): FIRMWARE,
}
UMAS = {"STOP_PLC": STOP, "START_PLC": START,
        **{f: PROGRAM for f in ("INITIALIZE_DOWNLOAD", "DOWNLOAD_BLOCK", "END_STRATEGY_DOWNLOAD",
                                "INITIALIZE_UPLOAD", "UPLOAD_BLOCK", "END_STRATEGY_UPLOAD")}}
# S7 "PLC Control" (PI service): P_PROGRAM starts the CPU; _INSE activates a downloaded block, _DELE deletes one
S7_PI = {"P_PROGRAM": START, "_INSE": PROGRAM, "_DELE": PROGRAM}
# CIP Non-Volatile Storage object (class 0xA1): ControlFLASH writes firmware through it
CIP_NVS = "0xa1"


def kind_of(event: dict) -> str:
    protocol, action, attrs = event["protocol"], event["action"], event["attrs"]
    if protocol == "modbus" and action == "PROGRAM_UNITY":
        return UMAS.get(attrs.get("umas_function", ""), "")
    if protocol == "s7comm" and action == "PLC Control":
        return S7_PI.get(attrs.get("pi_service", ""), "")
    if protocol == "cip" and attrs.get("class") == CIP_NVS and not action.startswith("Get"):
        return FIRMWARE
    return COMMANDS.get((protocol, action), "")


def rules(batch: Batch, site: Site) -> list[Finding]:
    found, mac = Findings(), macs(batch)
    for event in events(batch):
        kind = kind_of(event)
        if kind:
            attrs = event["attrs"]
            function = attrs.get("umas_function") or attrs.get("pi_service") or ""
            details = (("function", event["action"] + (f" {function}" if function else "")),
                       ("status", event["status"]))
            for name in ("filename", "block_type", "block_number", "class_name"):
                if attrs.get(name):
                    details += ((name, attrs[name]),)
            found.event(kind, event, mac, details=details)
    return found.result()
