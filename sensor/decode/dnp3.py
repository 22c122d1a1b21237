"""DNP3 (IEEE 1815) over TCP or UDP: link frames, transport segments, application fragments.

Link frames (0x0564 header with CRC, user data in CRC-checked 16-byte blocks) are stripped, the
transport layer's FIR/FIN segments reassembled per direction, and each application fragment
becomes an event: a request answered by the next solicited response from the other side (DNP3
allows one outstanding request per direction; some outstations get the sequence number wrong),
or an unsolicited response on its own. Events carry the link addresses, the
internal indications (``iin``, Zeek's 16-bit value) and the object headers (``g12v1[3]``: group,
variation and range or count). Function names are Zeek's; services ``dnp3_tcp``/``dnp3_udp``.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Protocol, Session
from sensor.decode.stream import cut

FUNCTIONS = {
    0x00: "CONFIRM", 0x01: "READ", 0x02: "WRITE", 0x03: "SELECT", 0x04: "OPERATE", 0x05: "DIRECT_OPERATE",
    0x06: "DIRECT_OPERATE_NR", 0x07: "IMMED_FREEZE", 0x08: "IMMED_FREEZE_NR", 0x09: "FREEZE_CLEAR",
    0x0A: "FREEZE_CLEAR_NR", 0x0B: "FREEZE_AT_TIME", 0x0C: "FREEZE_AT_TIME_NR", 0x0D: "COLD_RESTART",
    0x0E: "WARM_RESTART", 0x0F: "INITIALIZE_DATA", 0x10: "INITIALIZE_APPL", 0x11: "START_APPL", 0x12: "STOP_APPL",
    0x13: "SAVE_CONFIG", 0x14: "ENABLE_UNSOLICITED", 0x15: "DISABLE_UNSOLICITED", 0x16: "ASSIGN_CLASS",
    0x17: "DELAY_MEASURE", 0x18: "RECORD_CURRENT_TIME", 0x19: "OPEN_FILE", 0x1A: "CLOSE_FILE",
    0x1B: "DELETE_FILE", 0x1C: "GET_FILE_INFO", 0x1D: "AUTHENTICATE_FILE", 0x1E: "ABORT_FILE",
    0x1F: "ACTIVATE_CONFIG", 0x20: "AUTHENTICATE_REQ", 0x21: "AUTHENTICATE_REQ_NR",
    0x81: "RESPONSE", 0x82: "UNSOLICITED_RESPONSE", 0x83: "AUTHENTICATE_RESP",
}
RESPONSE, UNSOLICITED = 0x81, 0x82
CONFIRM = 0x00
# requests whose object headers carry no object data (they name what to read, freeze, enable …)
HEADER_ONLY = frozenset({0x01, 0x07, 0x08, 0x09, 0x0A, 0x14, 0x15, 0x16})
# object size in bytes by (group, variation); 0 = packed bits (1 per point; 2 for group 3/4)
SIZES = {
    (1, 1): 0, (1, 2): 1, (2, 1): 1, (2, 2): 7, (2, 3): 3, (3, 1): 0, (3, 2): 1, (4, 1): 1, (4, 2): 7, (4, 3): 3,
    (10, 1): 0, (10, 2): 1, (11, 1): 1, (11, 2): 7, (12, 1): 11, (12, 2): 11, (12, 3): 0, (13, 1): 1, (13, 2): 7,
    (20, 1): 5, (20, 2): 3, (20, 3): 5, (20, 4): 3, (20, 5): 4, (20, 6): 2, (20, 7): 4, (20, 8): 2,
    (21, 1): 5, (21, 2): 3, (21, 3): 5, (21, 4): 3, (21, 5): 11, (21, 6): 9, (21, 7): 11, (21, 8): 9,
    (21, 9): 4, (21, 10): 2, (21, 11): 4, (21, 12): 2,
    (22, 1): 5, (22, 2): 3, (22, 3): 5, (22, 4): 3, (22, 5): 11, (22, 6): 9, (22, 7): 11, (22, 8): 9,
    (23, 1): 5, (23, 2): 3, (23, 3): 5, (23, 4): 3, (23, 5): 11, (23, 6): 9, (23, 7): 11, (23, 8): 9,
    (30, 1): 5, (30, 2): 3, (30, 3): 4, (30, 4): 2, (30, 5): 5, (30, 6): 9,
    (31, 1): 5, (31, 2): 3, (31, 3): 11, (31, 4): 9, (31, 5): 4, (31, 6): 2, (31, 7): 5, (31, 8): 9,
    (32, 1): 5, (32, 2): 3, (32, 3): 11, (32, 4): 9, (32, 5): 5, (32, 6): 9, (32, 7): 11, (32, 8): 15,
    (33, 1): 5, (33, 2): 3, (33, 3): 11, (33, 4): 9, (33, 5): 5, (33, 6): 9, (33, 7): 11, (33, 8): 15,
    (34, 1): 2, (34, 2): 4, (34, 3): 4, (40, 1): 5, (40, 2): 3, (40, 3): 5, (40, 4): 9,
    (41, 1): 5, (41, 2): 3, (41, 3): 5, (41, 4): 9,
    (42, 1): 5, (42, 2): 3, (42, 3): 11, (42, 4): 9, (42, 5): 5, (42, 6): 9, (42, 7): 11, (42, 8): 15,
    (43, 1): 5, (43, 2): 3, (43, 3): 11, (43, 4): 9, (43, 5): 5, (43, 6): 9, (43, 7): 11, (43, 8): 15,
    (50, 1): 6, (50, 2): 10, (50, 3): 6, (50, 4): 11, (51, 1): 6, (51, 2): 6, (52, 1): 2, (52, 2): 2,
    (60, 1): 0, (60, 2): 0, (60, 3): 0, (60, 4): 0, (80, 1): 0,
}
NO_DATA = frozenset({(60, 1), (60, 2), (60, 3), (60, 4)})  # class data: a name, never values
RANGE_SIZES = {0x0: 1, 0x1: 2, 0x2: 4, 0x3: 1, 0x4: 2, 0x5: 4}  # start/stop pairs
COUNT_SIZES = {0x7: 1, 0x8: 2, 0x9: 4, 0xB: 1}
PREFIX_SIZES = {0: 0, 1: 1, 2: 2, 3: 4, 4: 1, 5: 2, 6: 4}
MAX_FRAGMENT = 1 << 16
# Bytes of unfinished fragments held across all flows of the process (both paths). IEEE 1815's
# usual fragment size is 2048 bytes, so 2048 directions can be midway through one at once, far more
# than a site's outstations; per flow alone, MAX_FRAGMENT each way of 500,000 flows would be ~64 GB.
MAX_HELD = 4 << 20
START = b"\x05\x64"


def _crc(data: bytes) -> int:
    """DNP3 CRC-16 (polynomial 0x3D65, reflected), as transmitted (little-endian, complemented)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return ~crc & 0xFFFF


def frame(buf: bytes) -> int:
    """Link frame: start, length (control to end of user data), then CRC blocks."""
    if len(buf) < 3:
        return 0
    if buf[:2] != START or buf[2] < 5:
        raise ValueError("not a DNP3 link header")
    user = buf[2] - 5
    return 10 + user + 2 * ((user + 15) // 16)


def detect(payload: bytes) -> bool:
    """A DNP3 link header whose CRC checks."""
    return len(payload) >= 10 and payload[:2] == START and payload[2] >= 5 \
        and struct.unpack_from("<H", payload, 8)[0] == _crc(payload[:8])


def _user_data(link: bytes) -> bytes:
    """The frame's user data, CRCs stripped."""
    user = link[2] - 5
    blocks = [link[pos : pos + 16] for pos in range(10, len(link), 18)]
    data = b"".join(blocks)[:user]
    if len(data) != user:
        raise ValueError("DNP3 link frame truncated")
    return data


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    """One TCP link frame, or a UDP datagram of link frames."""
    frames, rest = cut(pdu, frame)
    if rest or not frames:
        raise ValueError("DNP3 data after the last whole link frame")
    session.services.add(f"dnp3_{session.transport}")
    out: list[Event] = []
    for link in frames:
        control = link[3]
        if not control & 0x40 or control & 0x0F not in (3, 4):  # link-layer service only, no user data
            continue
        dst, src = struct.unpack_from("<HH", link, 4)
        fragment = _transport(_user_data(link), is_orig, session)
        if fragment is not None:
            out += _application(fragment, src, dst, is_orig, session)
    return out


class Held(bytes):
    """The start of a fragment held for a flow's direction; its bytes count in ``Held.total`` while
    it lives (a flow's state dropped, ended or evicted, drops them too)."""

    total = 0  # bytes held across flows

    def __new__(cls, data: bytes) -> Held:
        held = super().__new__(cls, data)
        Held.total += len(held)
        return held

    def __del__(self) -> None:
        Held.total -= len(self)


def over_budget(held: int, fragment: int) -> bool:
    """Whether holding a fragment of ``fragment`` bytes instead of this direction's ``held`` bytes
    would take the bytes held across flows past MAX_HELD."""
    return Held.total - held + fragment > MAX_HELD


def _transport(data: bytes, is_orig: bool, session: Session) -> bytes | None:
    """Reassemble transport segments (FIR starts, FIN ends a fragment); the fragment when whole. A
    fragment too large, or one that cannot be held within MAX_HELD, is given up (malformed)."""
    header, segment = data[0], data[1:]
    key = f"fragment{int(is_orig)}"
    if header & 0x40:
        session.vars[key] = b""
    elif key not in session.vars:  # middle of a fragment whose start was not seen
        return None
    held = session.vars[key]
    fragment = held + segment
    if len(fragment) > MAX_FRAGMENT:
        del session.vars[key]
        raise ValueError("DNP3 fragment too large")
    if header & 0x80:
        del session.vars[key]
        return fragment
    if over_budget(len(held), len(fragment)):
        del session.vars[key]
        raise ValueError("DNP3 fragments held past the budget")
    session.vars[key] = Held(fragment)
    return None


def _application(fragment: bytes, src: int, dst: int, is_orig: bool, session: Session) -> list[Event]:
    function = fragment[1]
    name = FUNCTIONS.get(function, f"unknown-{function}")
    if function not in (RESPONSE, UNSOLICITED, 0x83):
        objects = _objects(fragment[2:], function in HEADER_ONLY, session)
        event = Event(name, attrs={"src": src, "dst": dst, "objects": objects})
        return [event if function == CONFIRM else session.ask(("dnp3", is_orig), event)]
    iin = struct.unpack_from(">H", fragment, 2)[0]
    objects = _objects(fragment[4:], False, session)
    event = session.answer(("dnp3", not is_orig)) if function == RESPONSE else None
    if event is None:
        event = Event(name, attrs={"src": src, "dst": dst})
        out = [event]
    else:
        out = []
    event.status = "OK" if iin & 0x0007 == 0 else "IIN error"  # IIN2: no function, unknown object, bad parameter
    event.attrs.update(reply=name, iin=iin, reply_objects=objects)
    return out


def _objects(data: bytes, header_only: bool, session: Session) -> str:
    """Object headers as ``g<group>v<variation>[range or count]``, comma-joined; stops at an object
    whose size is not known, and at a malformed header (counted, the headers before it kept)."""
    out: list[str] = []
    try:
        _walk(data, header_only, out)
    except (ValueError, IndexError):
        session.malformed += 1
    return ",".join(out)


def _walk(data: bytes, header_only: bool, out: list[str]) -> None:
    pos = 0
    while pos + 3 <= len(data):
        group, variation, qualifier = data[pos], data[pos + 1], data[pos + 2]
        pos += 3
        prefix, code = (qualifier >> 4) & 0x07, qualifier & 0x0F
        if prefix not in PREFIX_SIZES:
            raise ValueError(f"DNP3 qualifier 0x{qualifier:02x}: reserved prefix code")
        label = f"g{group}v{variation}"
        if code in RANGE_SIZES:
            size = RANGE_SIZES[code]
            start = int.from_bytes(data[pos : pos + size], "little")
            stop = int.from_bytes(data[pos + size : pos + 2 * size], "little")
            pos += 2 * size
            count = stop - start + 1
            label += f"[{start}-{stop}]"
        elif code in COUNT_SIZES:
            size = COUNT_SIZES[code]
            count = int.from_bytes(data[pos : pos + size], "little")
            pos += size
            label += f"[{count}]"
        elif code == 0x6:
            count = 0
        else:
            raise ValueError(f"DNP3 qualifier 0x{qualifier:02x} not supported")
        if pos > len(data) or count < 0:
            raise ValueError("DNP3 object header truncated")
        out.append(label)
        if header_only or count == 0 or (group, variation) in NO_DATA:
            continue
        size = SIZES.get((group, variation))
        if size is None:
            if prefix in (4, 5, 6):  # each object is preceded by its own size
                width = PREFIX_SIZES[prefix]
                if count * width > len(data) - pos:  # (a count of 2^32 must not cost 2^32 steps)
                    raise ValueError("DNP3 objects truncated")
                for _ in range(count):
                    pos += width + int.from_bytes(data[pos : pos + width], "little")
                continue
            if group in (110, 111) and variation:  # octet strings: the variation is the length
                pos += count * (PREFIX_SIZES[prefix] + variation)
                continue
            break
        if size == 0:  # packed bits, no prefixes
            bits = 2 if group in (3, 4) else 1
            pos += (count * bits + 7) // 8
        else:
            pos += count * (PREFIX_SIZES[prefix] + size)


PROTOCOL = Protocol("dnp3", frozenset({"tcp", "udp"}), frozenset({20000}), detect, decode, frame)
