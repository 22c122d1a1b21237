"""MELSEC SLMP / MC protocol, binary 3E and 4E frames, over TCP or UDP.

One event per request (device read/write with the device, head number and points; remote run,
stop, pause, reset; password lock/unlock …) answered by the next response (3E) or the response
with the same serial number (4E), its status the end code. A Read Type Name answer names the CPU
model (and model code, and the vendor): asset facts. (ASCII-coded frames are not decoded.)
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session

REQUEST_3E, RESPONSE_3E, REQUEST_4E, RESPONSE_4E = b"\x50\x00", b"\xd0\x00", b"\x54\x00", b"\xd4\x00"
COMMANDS = {
    0x0401: "Device Read", 0x1401: "Device Write", 0x0403: "Device Read Random", 0x1402: "Device Write Random",
    0x0406: "Device Read Block", 0x1406: "Device Write Block", 0x0801: "Monitor Register", 0x0802: "Monitor",
    0x0101: "Read Type Name", 0x1001: "Remote Run", 0x1002: "Remote Stop", 0x1003: "Remote Pause",
    0x1005: "Remote Latch Clear", 0x1006: "Remote Reset", 0x0613: "Buffer Memory Read",
    0x1613: "Buffer Memory Write", 0x0601: "Intelligent Module Read", 0x1601: "Intelligent Module Write",
    0x0619: "Self Test", 0x1617: "Clear Error", 0x1630: "Remote Password Unlock", 0x1631: "Remote Password Lock",
    0x1810: "File Read", 0x1829: "File Write", 0x1827: "File Open", 0x182A: "File Close", 0x1822: "File Delete",
    0x1820: "File New",
}
DEVICE_COMMANDS = frozenset({0x0401, 0x1401})
READ_TYPE_NAME = 0x0101
MITSUBISHI = "Mitsubishi Electric"
CONF_VENDOR = 80  # a MELSEC CPU's model name implies the vendor: above the MAC's OUI (70)
DEVICES = {0x9C: "X", 0x9D: "Y", 0x90: "M", 0x92: "L", 0x93: "F", 0x94: "V", 0xA0: "B", 0xA8: "D", 0xB4: "W",
           0xC1: "TS", 0xC0: "TC", 0xC2: "TN", 0xC4: "CS", 0xC3: "CC", 0xC5: "CN", 0xAF: "R", 0xB0: "ZR",
           0x91: "SM", 0xA9: "SD", 0xCC: "Z"}
# after the subheader (and 4E serial + reserved): network, station, module I/O, multidrop, data length
ROUTE = struct.Struct("<BBHBH")


def _layout(buf: bytes) -> tuple[bool, bool, int]:
    """(request?, 4E?, offset of the route header) from the subheader."""
    head = buf[:2]
    if head in (REQUEST_3E, RESPONSE_3E):
        return head == REQUEST_3E, False, 2
    if head in (REQUEST_4E, RESPONSE_4E):
        return head == REQUEST_4E, True, 6
    raise ValueError("not an SLMP binary subheader")


def frame(buf: bytes) -> int:
    if len(buf) < 2:
        return 0
    _, _, pos = _layout(buf)
    if len(buf) < pos + ROUTE.size:
        return 0
    return pos + ROUTE.size + ROUTE.unpack_from(buf, pos)[4]


def detect(payload: bytes) -> bool:
    """A whole 3E/4E frame; a request names a known command, a response sits within its length."""
    try:
        request, _, pos = _layout(payload)
        if frame(payload) != len(payload):
            return False
    except ValueError:
        return False
    body = payload[pos + ROUTE.size :]
    if request:
        return len(body) >= 6 and struct.unpack_from("<H", body, 2)[0] in COMMANDS
    return len(body) >= 2


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    request, four_e, pos = _layout(pdu)
    session.services.add("slmp")
    key = ("serial", struct.unpack_from("<H", pdu, 2)[0]) if four_e else "next"
    body = pdu[pos + ROUTE.size :]
    if request:  # monitoring timer, command, subcommand, data
        _, command, subcommand = struct.unpack_from("<HHH", body)
        attrs: dict[str, object] = {"command": f"0x{command:04x}", "subcommand": f"0x{subcommand:04x}"}
        if command in DEVICE_COMMANDS:  # head device number (3 bytes), device code, points
            head = int.from_bytes(body[6:9], "little")
            code, points = body[9], struct.unpack_from("<H", body, 10)[0]
            attrs.update(device=DEVICES.get(code, f"0x{code:02x}"), address=head, points=points)
        event = Event(COMMANDS.get(command, f"unknown-0x{command:04x}"), attrs=attrs)
        return [session.ask(key, event)]
    end = struct.unpack_from("<H", body)[0]
    event = session.answer(key)
    out: list[Event | Fact] = []
    if event is None:
        event = Event("Response")
        out.append(event)
    event.status = "OK" if end == 0 else f"0x{end:04x}"
    if end == 0 and event.attrs.get("command") == f"0x{READ_TYPE_NAME:04x}" and len(body) >= 18:
        out += _type_name(body[2:])
    return out


def _type_name(data: bytes) -> list[Fact]:
    """Read Type Name answer: the CPU's model name (16 characters, space padded), then its model
    code (2 bytes; not sent by every CPU)."""
    model = data[:16].decode("latin-1").strip("\x00 ")
    if not model:
        return []
    code = [Fact("slmp_model_code", f"0x{struct.unpack_from('<H', data, 16)[0]:04x}")] if len(data) >= 18 else []
    return [Fact("model", model), Fact("vendor", MITSUBISHI, confidence=CONF_VENDOR), *code]


PROTOCOL = Protocol("slmp", frozenset({"tcp", "udp"}), frozenset({5000, 5001, 5002, 5007, 5010}), detect, decode,
                    frame)
