"""EtherNet/IP: the encapsulation protocol (TCP/UDP 44818) and CIP I/O (UDP 2222).

Encapsulation commands become ``enip`` events (List Identity, Register Session …); the CIP
messages that Send RR Data and Send Unit Data carry become ``cip`` events (``cip.events``), paired
by sender context (unconnected) or CIP sequence count (connected). A List Identity reply names
the device: vendor, device type, product code, revision, serial number and product name, as event
attributes and as asset facts (so do Identity object replies inside Send RR Data and Send Unit
Data: ``sensor.decode.cip``). Cyclic CIP I/O is recognised (service ``cip``, as ICSNPP names
it) and then left to the flow record. Vendor and device type names come from pycomm3's tables
(Wireshark's list, ``cip.vendor_name``).
"""

from __future__ import annotations

import ipaddress
import struct

from sensor.decode import cip
from sensor.decode.spec import Event, Fact, Protocol, Session

COMMANDS = {
    0x0000: "NOP", 0x0001: "List Targets", 0x0004: "List Services", 0x0063: "List Identity",
    0x0064: "List Interfaces", 0x0065: "Register Session", 0x0066: "Unregister Session",
    0x006F: "Send RR Data", 0x0070: "Send Unit Data", 0x0072: "Indicate Status", 0x0073: "Cancel",
}
STATUSES = {
    0x0000: "Success", 0x0001: "Invalid Command", 0x0002: "Insufficient Memory", 0x0003: "Incorrect Data",
    0x0064: "Invalid Session Handle", 0x0065: "Invalid Length", 0x0069: "Unsupported Protocol Revision",
}
LIST_IDENTITY, SEND_RR_DATA, SEND_UNIT_DATA, NOP = 0x0063, 0x006F, 0x0070, 0x0000
SESSION_BOUND = frozenset({0x0066, SEND_RR_DATA, SEND_UNIT_DATA, 0x0072, 0x0073})  # need a registered session
ITEM_IDENTITY, ITEM_CONNECTED_DATA, ITEM_UNCONNECTED_DATA, ITEM_SEQUENCED_ADDRESS = 0x000C, 0x00B1, 0x00B2, 0x8002
HEADER = struct.Struct("<HHII8sI")  # command, length, session handle, status, sender context, options
IDENTITY = struct.Struct("<H2x2s4s8xHHHBBHI")  # version, sockaddr (big-endian family, port, address), vendor …


def frame(buf: bytes) -> int:
    if len(buf) < 4:
        return 0
    command, length = struct.unpack_from("<HH", buf)
    if command not in COMMANDS:
        raise ValueError("not an EtherNet/IP encapsulation header")
    return HEADER.size + length


def _is_encapsulation(pdu: bytes) -> bool:
    if len(pdu) < HEADER.size:
        return False
    command, length, _, status, _, options = HEADER.unpack_from(pdu)
    return command in COMMANDS and HEADER.size + length == len(pdu) and status in STATUSES and options == 0


def _items(data: bytes) -> list[tuple[int, bytes]]:
    """Common packet format: item count, then (type, length, data) items."""
    count, pos, items = struct.unpack_from("<H", data)[0], 2, []
    for _ in range(count):
        kind, length = struct.unpack_from("<HH", data, pos)
        body = data[pos + 4 : pos + 4 + length]
        if len(body) != length:
            raise ValueError("CPF item truncated")
        items.append((kind, body))
        pos += 4 + length
    if pos != len(data):
        raise ValueError("bytes after the last CPF item")
    return items


def _is_io(pdu: bytes) -> bool:
    """CIP class 0/1 I/O: a sequenced address item then a connected data item."""
    try:
        items = _items(pdu)
    except (ValueError, struct.error):
        return False
    return len(items) == 2 and items[0][0] == ITEM_SEQUENCED_ADDRESS and len(items[0][1]) == 8 \
        and items[1][0] == ITEM_CONNECTED_DATA


def _telling(pdu: bytes) -> bool:
    """An encapsulation message that shows EtherNet/IP: not a NOP (an all-zero header is one), and a
    session handle on the commands that need a registered session."""
    command, _, handle = struct.unpack_from("<HHI", pdu)
    return command != NOP and (handle != 0 or command not in SESSION_BOUND)


def detect(payload: bytes) -> bool:
    """Whole encapsulation messages filling the payload (several per segment allowed), one of them
    ``_telling``; or CIP I/O."""
    pos, telling = 0, False
    while pos + 4 <= len(payload):
        command, length = struct.unpack_from("<HH", payload, pos)
        end = pos + HEADER.size + length
        if command not in COMMANDS or end > len(payload) or not _is_encapsulation(payload[pos:end]):
            break
        telling = telling or _telling(payload[pos:end])
        pos = end
    return (telling and pos == len(payload)) or _is_io(payload)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    if not _is_encapsulation(pdu):
        if _is_io(pdu):
            session.services.add("cip")
            session.done = True  # cyclic I/O data: nothing more to learn
            return []
        raise ValueError("neither an encapsulation message nor CIP I/O")
    command, _, handle, status, context, _ = HEADER.unpack_from(pdu)
    data = pdu[HEADER.size :]
    session.services.add("enip")
    if command in (SEND_RR_DATA, SEND_UNIT_DATA) and data:
        return _cip(command, data, context, session)
    name = COMMANDS[command]
    key = ("enip", command, context)
    if command == LIST_IDENTITY and data:  # the reply (also unsolicited on UDP broadcasts)
        event = session.answer(key)
        out: list[Event | Fact] = []
        if event is None:
            event = Event(name, protocol="enip")
            out.append(event)
        event.status = _status(status)
        identity = _identity(data)
        event.attrs.update(identity)
        return out + cip.identity_facts(identity)
    if is_orig:
        return [session.ask(key, Event(name, protocol="enip", attrs={"session": f"0x{handle:08x}"}))]
    event = session.answer(key)
    if event is None:
        event = Event(name, protocol="enip", attrs={"session": f"0x{handle:08x}"})
        event.status = _status(status)
        return [event]
    event.status = _status(status)
    return []


def _status(code: int) -> str:
    return "OK" if code == 0 else STATUSES.get(code, f"unknown-0x{code:04x}")


def _cip(command: int, data: bytes, context: bytes, session: Session) -> list[Event | Fact]:
    """Send RR Data / Send Unit Data: interface handle, timeout, then CPF items with one CIP message."""
    attrs = {"enip_command": COMMANDS[command]}
    for kind, body in _items(data[6:]):
        if kind == ITEM_UNCONNECTED_DATA:
            return list(cip.events(body, body[0] & 0x80 == 0, ("rr", context), session, attrs))
        if kind == ITEM_CONNECTED_DATA:
            seq = struct.unpack_from("<H", body)[0]
            return list(cip.events(body[2:], body[2] & 0x80 == 0, ("unit", seq), session, {**attrs, "seq": seq}))
    return []


def _identity(data: bytes) -> dict[str, object]:
    """The first identity item of a List Identity reply."""
    for kind, body in _items(data):
        if kind != ITEM_IDENTITY:
            continue
        (version, port, address, vendor, device_type, product_code, major, minor, status,
         serial) = IDENTITY.unpack_from(body)
        name_len = body[IDENTITY.size]
        product_name = body[IDENTITY.size + 1 : IDENTITY.size + 1 + name_len]
        if len(product_name) != name_len:
            raise ValueError("identity product name truncated")
        return {
            "encapsulation_version": version, "socket_address": str(ipaddress.IPv4Address(address)),
            "socket_port": struct.unpack(">H", port)[0], "vendor_id": vendor, "vendor": cip.vendor_name(vendor),
            "device_type_id": device_type, "device_type": cip.device_type_name(device_type),
            "product_code": product_code, "revision": f"{major}.{minor}", "device_status": f"0x{status:04x}",
            "serial": f"0x{serial:08x}", "product_name": product_name.decode("latin-1"),
        }
    raise ValueError("List Identity reply without an identity item")


PROTOCOL = Protocol("enip", frozenset({"tcp", "udp"}), frozenset({44818, 2222}), detect, decode, frame)
