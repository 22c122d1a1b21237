"""Omron FINS over UDP 9600 and FINS/TCP (the "FINS" header, then the same frames).

One event per command, answered by the response with the same service id; the command code names
the action (Memory Area Read, Run, Stop, Program Area Write …). A Controller Data Read answer
states the PLC's model and version: asset facts (and the vendor, Omron).
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session

MAGIC = b"FINS"
TCP_COMMANDS = {0: "Node Address Data Send (client)", 1: "Node Address Data Send (server)", 2: "Frame Send",
                3: "Frame Send Error Notification"}
FRAME_SEND = 2
COMMANDS = {
    0x0101: "Memory Area Read", 0x0102: "Memory Area Write", 0x0103: "Memory Area Fill",
    0x0104: "Multiple Memory Area Read", 0x0105: "Memory Area Transfer", 0x0201: "Parameter Area Read",
    0x0202: "Parameter Area Write", 0x0203: "Parameter Area Clear", 0x0220: "Data Link Table Read",
    0x0221: "Data Link Table Write", 0x0304: "Program Area Protect", 0x0305: "Program Area Protect Clear",
    0x0306: "Program Area Read", 0x0307: "Program Area Write", 0x0308: "Program Area Clear", 0x0401: "Run",
    0x0402: "Stop", 0x0403: "Reset", 0x0501: "Controller Data Read", 0x0502: "Connection Data Read",
    0x0601: "Controller Status Read", 0x0602: "Network Status Read", 0x0603: "Data Link Status Read",
    0x0620: "Cycle Time Read", 0x0701: "Clock Read", 0x0702: "Clock Write", 0x0801: "Loop-back Test",
    0x0802: "Broadcast Test Results Read", 0x0803: "Broadcast Test Data Send", 0x0920: "Message Read/Clear",
    0x0C01: "Access Right Acquire", 0x0C02: "Access Right Forced Acquire", 0x0C03: "Access Right Release",
    0x2101: "Error Clear", 0x2102: "Error Log Read", 0x2103: "Error Log Clear", 0x2140: "FINS Write Access Log Read",
    0x2141: "FINS Write Access Log Clear", 0x2201: "File Name Read", 0x2202: "Single File Read",
    0x2203: "Single File Write", 0x2204: "File Memory Format", 0x2205: "File Delete",
    0x2206: "Volume Label Create/Delete", 0x2207: "File Copy", 0x2208: "File Name Change",
    0x2209: "File Data Check", 0x220A: "Memory Area File Transfer", 0x220B: "Parameter Area File Transfer",
    0x220C: "Program Area File Transfer", 0x220F: "File Memory Index Read", 0x2210: "File Memory Read",
    0x2211: "File Memory Write", 0x2215: "Create/Delete Directory", 0x2301: "Forced Set/Reset",
    0x2302: "Forced Set/Reset Cancel", 0x2601: "Name Set", 0x2602: "Name Delete", 0x2603: "Name Read",
}
MEMORY_AREAS = {0x30: "CIO bit", 0x31: "WR bit", 0x32: "HR bit", 0x33: "AR bit", 0xB0: "CIO", 0xB1: "WR", 0xB2: "HR",
                0xB3: "AR", 0x02: "DM bit", 0x82: "DM", 0x09: "TIM/CNT flag", 0x89: "TIM/CNT PV", 0x46: "EM bit",
                0x98: "EM current bank", 0xBC: "EM current bank no.", 0x00: "CIO bit (CV)", 0x80: "CIO (CV)",
                0x81: "TIM/CNT (CV)"}
MEMORY_COMMANDS = frozenset({0x0101, 0x0102, 0x0103})
CONTROLLER_DATA_READ = 0x0501
OMRON = "OMRON"
CONF_VENDOR = 80  # FINS is Omron's: the vendor a controller model implies, above the MAC's OUI (70)
HEADER = struct.Struct(">BBBBBBBBBBH")  # ICF, RSV, GCT, DNA, DA1, DA2, SNA, SA1, SA2, SID, command
ICF_RESPONSE = 0x40


def frame(buf: bytes) -> int:
    """FINS/TCP: magic, length of what follows, command, error code."""
    if len(buf) < 8:
        return 0
    if buf[:4] != MAGIC:
        raise ValueError("not a FINS/TCP header")
    return 8 + struct.unpack_from(">I", buf, 4)[0]


def _fins_frame(data: bytes) -> bool:
    """A FINS header: reserved bits and byte clear, a gateway count, a known command."""
    if len(data) < HEADER.size:
        return False
    icf, rsv, gct = data[0], data[1], data[2]
    return icf & 0x3E == 0 and rsv == 0 and gct <= 7 and struct.unpack_from(">H", data, 10)[0] in COMMANDS


def detect(payload: bytes) -> bool:
    if payload[:4] == MAGIC:
        if len(payload) < 16 or frame(payload) != len(payload):
            return False
        command = struct.unpack_from(">I", payload, 8)[0]
        return command in TCP_COMMANDS and (command != FRAME_SEND or _fins_frame(payload[16:]))
    return _fins_frame(payload)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    session.services.add("omron_fins")
    if pdu[:4] == MAGIC:
        command, error = struct.unpack_from(">II", pdu, 8)
        if command != FRAME_SEND:  # node address exchange, or an error notification
            return [Event(TCP_COMMANDS.get(command, f"unknown-{command}"), status="OK" if error == 0 else f"0x{error:x}",
                          attrs={"fins_tcp_command": command})]
        pdu = pdu[16:]
    icf, _, _, dna, da1, da2, sna, sa1, sa2, sid, code = HEADER.unpack_from(pdu)
    body = pdu[HEADER.size :]
    name = COMMANDS.get(code, f"unknown-0x{code:04x}")
    command = not icf & ICF_RESPONSE
    key = (sid, code, (dna, da1, da2) if command else (sna, sa1, sa2))
    if command:
        attrs = {"command_code": f"0x{code:04x}", "sid": sid, "destination": f"{dna}.{da1}.{da2}",
                 "source": f"{sna}.{sa1}.{sa2}"}
        if code in MEMORY_COMMANDS and body:
            attrs["memory_area"] = MEMORY_AREAS.get(body[0], f"0x{body[0]:02x}")
        return [session.ask(key, Event(name, attrs=attrs))]
    end = struct.unpack_from(">H", body)[0] & 0x7F3F  # without the relay error and fatal/non-fatal flags
    event = session.answer(key)
    out: list[Event | Fact] = []
    if event is None:
        event = Event(name, attrs={"command_code": f"0x{code:04x}", "sid": sid})
        out.append(event)
    event.status = "OK" if end == 0 else f"0x{end:04x}"
    if code == CONTROLLER_DATA_READ and end == 0 and len(body) >= 42:
        out += controller_data(body)
    return out


def controller_data(body: bytes) -> list[Fact]:
    """A Controller Data Read answer's body (end code, model, version …): the controller's model and
    version, and the vendor they imply."""
    model, version = (body[2:22].split(b"\x00")[0].decode("latin-1").strip(),
                      body[22:42].split(b"\x00")[0].decode("latin-1").strip())
    facts = [Fact(attribute, value) for attribute, value in (("model", model), ("firmware", version)) if value]
    return facts + ([Fact("vendor", OMRON, confidence=CONF_VENDOR)] if facts else [])


PROTOCOL = Protocol("omron_fins", frozenset({"udp", "tcp"}), frozenset({9600}), detect, decode, frame)
