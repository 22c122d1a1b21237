"""Modbus/TCP (MBAP + PDU): one event per request, answered by the response with the same
transaction id; Read Device Identification answers (every object) and Schneider UMAS Read ID
answers become asset facts.

Function and exception names are Zeek's (``base/protocols/modbus/consts.zeek``), so ``action``
reads like Zeek's ``modbus.log`` ``func``. Register and coil values are process data and are not
kept; the address range is. Schneider UMAS (function 90) carries its own sub-function, e.g. the
PLC start/stop commands.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session, salvage
from sensor.decode.stream import whole_pdus

FUNCTIONS = {
    0x01: "READ_COILS", 0x02: "READ_DISCRETE_INPUTS", 0x03: "READ_HOLDING_REGISTERS",
    0x04: "READ_INPUT_REGISTERS", 0x05: "WRITE_SINGLE_COIL", 0x06: "WRITE_SINGLE_REGISTER",
    0x07: "READ_EXCEPTION_STATUS", 0x08: "DIAGNOSTICS", 0x0B: "GET_COMM_EVENT_COUNTER",
    0x0C: "GET_COMM_EVENT_LOG", 0x0F: "WRITE_MULTIPLE_COILS", 0x10: "WRITE_MULTIPLE_REGISTERS",
    0x11: "REPORT_SLAVE_ID", 0x14: "READ_FILE_RECORD", 0x15: "WRITE_FILE_RECORD",
    0x16: "MASK_WRITE_REGISTER", 0x17: "READ_WRITE_MULTIPLE_REGISTERS", 0x18: "READ_FIFO_QUEUE",
    0x2B: "ENCAP_INTERFACE_TRANSPORT", 0x5B: "OBJECT_MESSAGING",
    # machine, vendor and network specific
    0x09: "PROGRAM_484", 0x0A: "POLL_484", 0x0D: "PROGRAM_584_984", 0x0E: "POLL_584_984",
    0x12: "PROGRAM_884_U84", 0x13: "RESET_COMM_LINK_884_U84", 0x28: "PROGRAM_CONCEPT",
    0x29: "MULTIPLE_FUNCTION_CODES", 0x5A: "PROGRAM_UNITY", 0x7D: "FIRMWARE_REPLACEMENT",
    0x7E: "PROGRAM_584_984_2", 0x7F: "REPORT_LOCAL_ADDRESS",
}
EXCEPTIONS = {
    0x01: "ILLEGAL_FUNCTION", 0x02: "ILLEGAL_DATA_ADDRESS", 0x03: "ILLEGAL_DATA_VALUE",
    0x04: "SLAVE_DEVICE_FAILURE", 0x05: "ACKNOWLEDGE", 0x06: "SLAVE_DEVICE_BUSY", 0x08: "MEMORY_PARITY_ERROR",
    0x0A: "GATEWAY_PATH_UNAVAILABLE", 0x0B: "GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND",
}
UMAS_FUNCTIONS = {
    0x01: "INIT_COMM", 0x02: "READ_ID", 0x03: "READ_PROJECT_INFO", 0x04: "READ_PLC_INFO",
    0x06: "READ_CARD_INFO", 0x0A: "REPEAT", 0x10: "TAKE_PLC_RESERVATION", 0x11: "RELEASE_PLC_RESERVATION",
    0x12: "KEEP_ALIVE", 0x20: "READ_MEMORY_BLOCK", 0x22: "READ_VARIABLES", 0x23: "WRITE_VARIABLES",
    0x24: "READ_COILS_REGISTERS", 0x25: "WRITE_COILS_REGISTERS", 0x30: "INITIALIZE_UPLOAD",
    0x31: "UPLOAD_BLOCK", 0x32: "END_STRATEGY_UPLOAD", 0x33: "INITIALIZE_DOWNLOAD", 0x34: "DOWNLOAD_BLOCK",
    0x35: "END_STRATEGY_DOWNLOAD", 0x39: "READ_ETH_MASTER_DATA", 0x40: "START_PLC", 0x41: "STOP_PLC",
    0x50: "MONITOR_PLC", 0x58: "CHECK_PLC", 0x70: "READ_IO_OBJECT", 0x71: "WRITE_IO_OBJECT",
    0x73: "GET_STATUS_MODULE", 0xFE: "RESPONSE_OK", 0xFD: "RESPONSE_ERROR",
}
# Read Device Identification object ids (basic 0-2, regular 3-6) → observation attributes
DEVICE_ID_OBJECTS = {0x00: "vendor", 0x01: "product_code", 0x02: "firmware", 0x03: "vendor_url", 0x04: "product",
                     0x05: "model", 0x06: "application"}
PRODUCT_CODE = 0x01
CONF_PRODUCT_CODE_MODEL = 85  # a product code ("BMX P34 2020") names the model when no model name does
MEI_DEVICE_ID = 0x0E
UMAS_READ_ID = 0x02
UMAS_OK = 0xFE
# UMAS Read ID answer after the status: range, ident, model, communication version, patch,
# internal version, hardware version, crash code, then the CPU's name (length-prefixed)
UMAS_ID = struct.Struct("<HIHHHHHI2xB")
SCHNEIDER = "Schneider Electric"
CONF_UMAS_VENDOR = 80  # UMAS is Schneider's own: above the MAC's OUI (70), below a stated vendor name
MBAP = struct.Struct(">HHHBB")  # transaction id, protocol id, length, unit id, function code
MAX_LENGTH = 254  # unit id + 253-byte PDU


def function_name(code: int) -> str:
    """Zeek's build_func: known codes by name, exceptions suffixed, the rest ``unknown-<n>``."""
    masked = code & 0x7F
    if code in FUNCTIONS or masked not in FUNCTIONS:
        return FUNCTIONS.get(code, f"unknown-{code}")
    return FUNCTIONS[masked] + "_EXCEPTION"


def frame(buf: bytes) -> int:
    if len(buf) < 6:
        return 0
    _, pid, length = struct.unpack_from(">HHH", buf)
    if pid != 0 or not 2 <= length <= MAX_LENGTH:
        raise ValueError("not a Modbus/TCP header")
    return 6 + length


def detect(payload: bytes) -> bool:
    """Whole MBAP frames (protocol id 0, sane length) carrying known function codes."""
    return whole_pdus(payload, frame, lambda pdu: pdu[7] & 0x7F in FUNCTIONS)


def _request_fields(code: int, body: bytes) -> dict[str, object]:
    if code in (0x01, 0x02, 0x03, 0x04, 0x0F, 0x10):
        address, quantity = struct.unpack_from(">HH", body)
        return {"address": address, "quantity": quantity}
    if code in (0x05, 0x06):
        return {"address": struct.unpack_from(">H", body)[0], "quantity": 1}
    if code in (0x16, 0x18):
        return {"address": struct.unpack_from(">H", body)[0]}
    if code == 0x17:
        read_address, read_quantity, write_address, write_quantity = struct.unpack_from(">HHHH", body)
        return {"address": read_address, "quantity": read_quantity,
                "write_address": write_address, "write_quantity": write_quantity}
    if code == 0x08:
        return {"subfunction": struct.unpack_from(">H", body)[0]}
    if code == 0x2B:
        return {"mei_type": body[0]}
    if code == 0x5A:  # UMAS: session byte, then the UMAS function
        umas = body[1]
        return {"umas_function": UMAS_FUNCTIONS.get(umas, f"unknown-{umas}")}
    return {}


def device_id_facts(body: bytes) -> list[Fact]:
    """Read Device Identification response: MEI type, code, conformity, more, next id, count, objects."""
    count = body[5]
    pos, facts = 6, []
    for _ in range(count):
        obj, length = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError("device identification object truncated")
        attribute = DEVICE_ID_OBJECTS.get(obj)
        text = value.decode("latin-1").strip("\x00 ")
        if attribute and text:
            facts.append(Fact(attribute, text))
            if obj == PRODUCT_CODE:
                facts.append(Fact("model", text, confidence=CONF_PRODUCT_CODE_MODEL))
        pos += 2 + length
    return facts


def umas_id_facts(body: bytes) -> list[Fact]:
    """A UMAS Read ID answer (after the session byte and the OK status): the CPU's reference
    ("140 CPU 311 10", "BMX P34 2020") and its communication firmware version, whose two bytes
    read as Schneider writes versions (0x0270 → V2.70)."""
    *_, version, _, _, _, _, length = UMAS_ID.unpack_from(body, 2)
    name = body[2 + UMAS_ID.size : 2 + UMAS_ID.size + length]
    if len(name) != length:
        raise ValueError("UMAS Read ID name truncated")
    model = name.decode("latin-1").strip("\x00 ")
    facts = [Fact(attribute, value) for attribute, value in
             (("model", model), ("firmware", f"V{version >> 8:X}.{version & 0xFF:02X}" if version else ""))
             if value]
    return facts + [Fact("vendor", SCHNEIDER, confidence=CONF_UMAS_VENDOR)] if facts else []


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    tid, _, _, unit, code = MBAP.unpack_from(pdu)
    body = pdu[MBAP.size :]
    session.services.add("modbus")
    if is_orig:
        attrs = {"tid": tid, "unit": unit, **_request_fields(code, body)}
        return [session.ask(tid, Event(function_name(code), attrs=attrs))]
    event = session.answer(tid)
    out: list[Event | Fact] = []
    if event is None:  # request not seen in this interval
        event = Event(function_name(code & 0x7F), attrs={"tid": tid, "unit": unit})
        out.append(event)
    if code & 0x80:
        exception = body[0]
        event.status = EXCEPTIONS.get(exception, f"unknown-{exception}")
    else:
        event.status = "OK"
        if code == 0x2B and body[0] == MEI_DEVICE_ID:
            out += salvage(session, device_id_facts, body)
        elif code == 0x5A and len(body) >= 2 and body[1] == UMAS_OK \
                and event.attrs.get("umas_function") == UMAS_FUNCTIONS[UMAS_READ_ID]:
            out += salvage(session, umas_id_facts, body)
    return out


PROTOCOL = Protocol("modbus", frozenset({"tcp"}), frozenset({502}), detect, decode, frame)
