"""HART-IP (UDP/TCP 5094): sessions, and the HART commands it carries to field devices.

One event per request (session initiate/close, audit log read, direct PDU, a token-passing PDU's
HART command) answered by the response with the same sequence number; published
(burst) PDUs stand alone; keep-alives are flow control. A Read Unique Identifier answer names the
field device (expanded device type, device id, manufacturer, software revision), Read Tag its tag
and descriptor (Packed ASCII) and Read Long Tag its long tag: asset facts.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session

MESSAGE_TYPES = {0: "Request", 1: "Response", 2: "Publish", 3: "Error", 15: "NAK"}
MESSAGE_IDS = {0: "Session Initiate", 1: "Session Close", 2: "Keep Alive", 3: "Token Passing PDU", 4: "Direct PDU",
               5: "Read Audit Log"}
REQUEST, PUBLISH = 0, 2
KEEP_ALIVE, TOKEN_PASSING, DIRECT = 2, 3, 4
COMMANDS = {
    0: "Read Unique Identifier", 1: "Read Primary Variable", 2: "Read Loop Current", 3: "Read Dynamic Variable",
    6: "Write Polling Address", 7: "Read Loop Configuration", 8: "Read Dynamic Variable Classifications",
    9: "Read Device Variable", 11: "Read Unique Identifier Tag", 12: "Read Message", 13: "Read Tag",
    14: "Read Primary Variable Transducer Information", 15: "Read Device Information",
    16: "Read Final Assembly Number", 17: "Write Message", 18: "Write Tag Descriptor Date",
    19: "Write Final Assembly Number", 20: "Read Long Tag", 21: "Read Unique Identifier Long Tag",
    22: "Write Long Tag", 33: "Read Device Variables", 34: "Write Primary Variable Damping Value",
    35: "Write Primary Variable Range Values", 36: "Set Primary Variable Upper Range Value",
    37: "Set Primary Variable Lower Range Value", 38: "Reset Configuration Changed Flag",
    40: "Enter/Exit Fixed Current Mode", 41: "Perform Self Test", 42: "Perform Device Reset",
    43: "Set Primary Variable Zero", 44: "Write Primary Variable Units", 45: "Trim Loop Current Zero",
    46: "Trim Loop Current Gain", 48: "Read Additional Device Status", 53: "Write Device Variable Units",
    54: "Read Device Variable Information", 59: "Write Number Of Response Preambles", 71: "Lock Device",
    72: "Squawk", 73: "Find Device", 79: "Write Device Variable", 89: "Set Real-Time Clock",
    90: "Read Real-Time Clock",
}
READ_UNIQUE_IDENTIFIER, READ_TAG, READ_LONG_TAG = 0, 13, 20
ACK_FRAMES = frozenset({1, 6})  # burst (BACK) and field-device-to-master (ACK) frames carry a response code
HEADER = struct.Struct(">BBBBHH")  # version, message type, message id, status, sequence number, byte count


def frame(buf: bytes) -> int:
    if len(buf) < HEADER.size:
        return 0
    if buf[0] not in (1, 2):
        raise ValueError("not a HART-IP header")
    size = struct.unpack_from(">H", buf, 6)[0]
    if size < HEADER.size:
        raise ValueError("HART-IP byte count too small")
    return size


def detect(payload: bytes) -> bool:
    if len(payload) < HEADER.size:
        return False
    version, kind, message, _, _, size = HEADER.unpack_from(payload)
    return version in (1, 2) and kind in MESSAGE_TYPES and message in MESSAGE_IDS and size == len(payload)


def _command(number: int) -> str:
    return COMMANDS.get(number, f"unknown-0x{number:02x}")


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    _, kind, message, status, seq, size = HEADER.unpack_from(pdu)
    body = pdu[HEADER.size : size]
    session.services.add("hart_ip")
    if message == KEEP_ALIVE or message not in MESSAGE_IDS:
        return []
    attrs: dict[str, object] = {"message_id": MESSAGE_IDS[message], "seq": seq}
    name, facts = MESSAGE_IDS[message], []
    if message == TOKEN_PASSING and body:
        number, command_attrs, facts = _token_passing(body)
        name, attrs = _command(number), {**attrs, **command_attrs, "command": number}
    if kind in (REQUEST, PUBLISH):
        event = Event(name, attrs=attrs)
        return [session.ask(seq, event) if kind == REQUEST else event]
    event = session.answer(seq)
    out: list[Event | Fact] = [*facts]
    if event is None:
        event = Event(name, attrs=attrs)
        out.append(event)
    code = attrs.get("response_code", 0)
    event.status = "OK" if status == 0 and code == 0 else f"status {status}" if status else f"response code {code}"
    return out


def _token_passing(pdu: bytes) -> tuple[int, dict[str, object], list[Fact]]:
    """HART PDU: delimiter, address (1 or 5 bytes), expansion bytes, command, byte count,
    [response code, device status], data, checksum."""
    delimiter = pdu[0]
    pos = 1 + (5 if delimiter & 0x80 else 1) + ((delimiter >> 5) & 0x03)
    number, count = pdu[pos], pdu[pos + 1]
    data = pdu[pos + 2 : pos + 2 + count]
    if len(data) != count:
        raise ValueError("HART PDU data truncated")
    attrs: dict[str, object] = {"address": pdu[1 : pos].hex()}
    if delimiter & 0x07 not in ACK_FRAMES:
        return number, attrs, []
    attrs["response_code"] = data[0] if data else 0
    if data[:1] != b"\x00":
        return number, attrs, []
    return number, attrs, _device_facts(number, data[2:])


def _device_facts(number: int, data: bytes) -> list[Fact]:
    if number == READ_UNIQUE_IDENTIFIER and len(data) >= 12 and data[0] == 254:
        facts = [Fact("hart_device_type", f"0x{struct.unpack_from('>H', data, 1)[0]:04x}"),
                 Fact("hart_device_id", data[9:12].hex()), Fact("firmware", str(data[6]))]
        if len(data) >= 19:  # HART 7: manufacturer identification code
            facts.append(Fact("hart_manufacturer_id", f"0x{struct.unpack_from('>H', data, 17)[0]:04x}"))
        return facts
    if number == READ_LONG_TAG and len(data) >= 32:
        tag = data[:32].decode("latin-1").strip("\x00 ")
        return [Fact("hart_tag", tag)] if tag else []
    if number == READ_TAG and len(data) >= 18:  # tag (8 characters), descriptor (16), date
        named = (("hart_tag", packed_ascii(data[:6])), ("hart_descriptor", packed_ascii(data[6:18])))
        return [Fact(attribute, text) for attribute, text in named if text]
    return []


def packed_ascii(data: bytes) -> str:
    """HART Packed ASCII: four 6-bit characters in every three bytes (0-31 stand for 64-95, '@'
    to '_'); the padding ('@' and spaces) is dropped."""
    bits, count = int.from_bytes(data, "big"), len(data) * 8 // 6
    codes = ((bits >> 6 * (count - 1 - i)) & 0x3F for i in range(count))
    return "".join(chr(c + 64 if c < 32 else c) for c in codes).strip("@ ")


PROTOCOL = Protocol("hart_ip", frozenset({"udp", "tcp"}), frozenset({5094}), detect, decode, frame)
