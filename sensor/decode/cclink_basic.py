"""CC-Link IE Field Basic (UDP 61450 master, 61451 slave): the master's cyclic requests and the
slaves' responses, as nttcom's Zeek parser (zeek-parser-CCLinkFieldBasic) names them.

The frames use SLMP's binary 3E header (subheader 0x5000 request or 0xD000 response, route,
data length, timer or end code). A request carries command 0x0E70 ("cyclic"), the protocol
version, the master's id (its IPv4 address), group, parameter number and the slaves' ids; a
response the protocol version, its end code and the slave's id. The exchange is cyclic (every
few milliseconds), so like nttcom's 60-second aggregation one frame per flow and interval is
decoded: the decoder pauses the flow until the next interval. Cyclic data (RWw/RY, RWr/RX) is
process data and not kept. The master is a controller.
"""

from __future__ import annotations

import ipaddress
import struct

from sensor.decode.spec import Event, Fact, Protocol, Session

REQUEST, RESPONSE = b"\x50\x00", b"\xd0\x00"
ROUTE = struct.Struct("<2sBBHBHH")  # subheader, network, station, module I/O, multidrop, length, timer/end
CYCLIC = 0x0E70
COMMANDS = {CYCLIC: "cyclic"}
END_CODES = {0x0000: "normal", 0xCF80: "stop"}  # nttcom: "nomal", "stop"
VERSIONS = frozenset({1, 2})
REQUEST_INFO = 15 + 2 + 2 + 16 + 12  # cyclic information: after the command, version, offsets, master notice
RESPONSE_INFO = 11 + 2 + 2 + 16 + 20  # after the version, end code, offsets, slave notice
CONF_MASTER = 60
MAX_SLAVES = 16  # listed in an event


def _ip(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw[::-1]))  # little-endian


def detect(payload: bytes) -> bool:
    """A 3E request with the cyclic command, or a 3E response starting with a known protocol version."""
    try:
        head, *_, length, _ = ROUTE.unpack_from(payload)
        if length != len(payload) - 9:
            return False
        if head == REQUEST:
            return struct.unpack_from("<H", payload, 11)[0] == CYCLIC
        return head == RESPONSE and struct.unpack_from("<H", payload, 11)[0] in VERSIONS
    except struct.error:
        return False


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    head = ROUTE.unpack_from(pdu)[0]
    session.services.add("cclink_ie_field_basic")
    session.pause = True  # one frame per interval: the rest repeats it
    if head == REQUEST:
        command, _, version = struct.unpack_from("<HHH", pdu, 11)
        master, group, _, _, _, _, parameter, slaves = struct.unpack_from("<4sBBHHHHH", pdu, REQUEST_INFO)
        ids = pdu[REQUEST_INFO + 20 : REQUEST_INFO + 20 + 4 * min(slaves, MAX_SLAVES)]
        if len(ids) % 4:
            raise ValueError("slave ids truncated")
        return [Event("cyclicDataReq", attrs={
            "cmd": COMMANDS.get(command, f"unknown_ct_0x{command:04x}"), "version": version, "master": _ip(master),
            "group": group, "parameter_no": parameter, "slaves": slaves,
            "slave_ids": ",".join(_ip(ids[i : i + 4]) for i in range(0, len(ids), 4))}),
            Fact("role", "plc", confidence=CONF_MASTER)]
    if head != RESPONSE:
        raise ValueError("not a CC-Link IE Field Basic frame")
    version, end_code = struct.unpack_from("<HH", pdu, 11)
    slave, group = struct.unpack_from("<4sB", pdu, RESPONSE_INFO)
    return [Event("cyclicDataRes", END_CODES.get(end_code, f"0x{end_code:04x}"),
                  {"version": version, "slave": _ip(slave), "group": group})]


PROTOCOL = Protocol("cclink_ie_field_basic", frozenset({"udp"}), frozenset({61450, 61451}), detect, decode)
