"""PROFINET IO Context Management: DCE/RPC connectionless (version 4) over UDP 34964, then
ephemeral ports, recognised by the PNIO interface UUIDs in its 80-byte header.

One event per RPC request (Connect, Release, Read, Write, Control, Read Implicit) answered by the
Response, Fault or Reject with the same activity UUID and sequence number sent the other way; a
device often answers from another port, so the answer then stands alone on its own flow. A
fragmented request is one event counting its fragments. Pings, working/no-call answers, acks,
cancels and fragment acks are flow control. UUIDs are printed canonically whatever the header's
integer byte order; names are ICSNPP's (profinet_io_cm.log).
"""

from __future__ import annotations

import struct
import uuid

from sensor.decode.spec import Event, Protocol, Session

INTERFACES = {uuid.UUID(f"dea0000{n}-6c97-11d1-8271-00a02442df7d"): name
              for n, name in ((1, "device"), (2, "controller"), (3, "supervisor"), (4, "parameter server"))}
PACKET_TYPES = ("Request", "Ping", "Response", "Fault", "Working", "No call Response to Ping", "Reject",
                "Acknowledge", "Connectionless Cancel", "Fragment Acknowledge", "Cancel Acknowledge")
REQUEST, RESPONSE, ANSWERS = 0, 2, (2, 3, 6)  # answers: Response, Fault, Reject
OPERATIONS = ("Connect", "Release", "Read", "Write", "Control", "Read Implicit")
FLAGS1 = {0x02: "last_fragment", 0x04: "fragment", 0x08: "no_fragment_requested", 0x10: "maybe",
          0x20: "idempotent", 0x40: "broadcast"}
CANCEL_PENDING = 0x02  # flags2
HEADER_SIZE = 80
BODY = {"<": struct.Struct("<IIIHHHHH"), ">": struct.Struct(">IIIHHHHH")}  # boot, version, seq, opnum, hints, len, frag


def _order(pdu: bytes) -> str:
    """The header's integer byte order, if it is a PNIO connectionless RPC header."""
    if len(pdu) < HEADER_SIZE or pdu[0] != 4 or pdu[1] >= len(PACKET_TYPES) or pdu[4] >> 4 > 1:
        raise ValueError("not a DCE/RPC connectionless header")
    order = "<" if pdu[4] >> 4 else ">"
    if _uuid(pdu, 24, order) not in INTERFACES:
        raise ValueError("not a PROFINET IO interface")
    return order


def _uuid(pdu: bytes, pos: int, order: str) -> uuid.UUID:
    raw = pdu[pos : pos + 16]
    return uuid.UUID(bytes_le=raw) if order == "<" else uuid.UUID(bytes=raw)


def detect(payload: bytes) -> bool:
    try:
        order = _order(payload)
    except ValueError:
        return False
    return HEADER_SIZE + BODY[order].unpack_from(payload, 56)[6] <= len(payload)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    order = _order(pdu)
    boot, version, seq, opnum, _, _, size, fragment = BODY[order].unpack_from(pdu, 56)
    session.services.add("profinet_io_cm")
    kind = pdu[1]
    activity = _uuid(pdu, 40, order)
    key = (activity, seq)
    if kind == REQUEST and fragment:  # a later fragment of a request
        event = session.pending.get(key)
        if event is not None:
            event.attrs["fragments"] = int(event.attrs.get("fragments", 1)) + 1
            event.attrs["len_of_body"] = int(event.attrs["len_of_body"]) + size
        return []
    if kind != REQUEST and (kind not in ANSWERS or fragment):
        return []
    interface = _uuid(pdu, 24, order)
    flags = [name for bit, name in FLAGS1.items() if pdu[2] & bit]
    if pdu[3] & CANCEL_PENDING:
        flags.append("cancel_was_pending_at_call_end")
    attrs: dict[str, object] = {
        "packet_type": PACKET_TYPES[kind], "object_uuid": str(_uuid(pdu, 8, order)).upper(),
        "interface_uuid": str(interface).upper(), "interface": INTERFACES[interface],
        "activity_uuid": str(activity).upper(), "interface_version": f"{version & 0xFFFF}.{version >> 16}",
        "seq": seq, "opnum": opnum, "server_boot_time": boot, "len_of_body": size, "flags": ",".join(flags)}
    name = OPERATIONS[opnum] if opnum < len(OPERATIONS) else f"unknown-{opnum}"
    if kind == REQUEST:
        return [session.ask(key, Event(name, attrs=attrs))]
    event = session.answer(key)
    out: list[Event] = []
    if event is None:
        event = Event(name, attrs=attrs)
        out.append(event)
    event.attrs.update(reply=PACKET_TYPES[kind], server_boot_time=boot)
    body = pdu[HEADER_SIZE : HEADER_SIZE + size]
    code = struct.unpack_from(order + "I", body)[0] if len(body) >= 4 else 0  # PNIOStatus, or the fault's status
    if kind == RESPONSE:
        event.status = f"pnio_status 0x{code:08x}" if code else "OK"
    else:
        event.status = f"{PACKET_TYPES[kind].lower()} 0x{code:08x}"
    return out


PROTOCOL = Protocol("profinet_io_cm", frozenset({"udp"}), frozenset({34964}), detect, decode)
