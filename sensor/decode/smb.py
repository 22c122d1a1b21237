"""SMB over TCP (NetBIOS session service or direct, MS-SMB/MS-SMB2) and over NetBIOS datagrams
(the SMBv1 mailslot browser protocol, MS-BRWS): which dialect peers negotiate, whether SMBv1 is in use.

On TCP, one "negotiate" event per connection: the dialects the client offers, the chosen one as
the status, and ``smb1`` when SMBv1 was negotiated (``smb1_offered`` when the client still offers
it). The peers' names and OS come from the NetBIOS session request (a flow that carries only that
is "netbios-ssn"; a datagram flow is "netbios-dgm" too), SMBv1 session setup (NativeOS,
NativeLanMan) and NTLMSSP (``sensor.decode.ntlm``). File traffic follows the session setup, so the flow is done after
MAX_PDUS messages or an encrypted (SMB3 transform) one. On UDP, each browser announcement is an
event flagged ``smb1`` and names the announcing host, its workgroup and OS version.
"""

from __future__ import annotations

import struct

from sensor.decode import ntlm
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

NBSS_TYPES = frozenset({0x00, 0x81, 0x82, 0x83, 0x84, 0x85})  # message, session request/replies, keep-alive
SESSION_REQUEST = 0x81
SMB1, SMB2, TRANSFORM = b"\xffSMB", b"\xfeSMB", b"\xfdSMB"
SMB1_NEGOTIATE, SMB1_SESSION_SETUP = 0x72, 0x73
DATAGRAM_TYPES = frozenset({0x10, 0x11, 0x12})  # direct unique, direct group, broadcast
DATAGRAM_SMB = 82  # offset of the SMB message: 14-byte header, source and destination names
BROWSE = b"\\MAILSLOT\\BROWSE\x00"
ANNOUNCEMENTS = {0x01: "host_announcement", 0x0C: "domain_announcement", 0x0F: "local_master_announcement"}
SV_TYPE_NT, SV_TYPE_UNIX = 0x1000, 0x0800
SMB2_NEGOTIATE = 0
UNICODE = 0x8000  # SMBv1 flags2
DIALECTS = {0x0202: "SMB 2.0.2", 0x0210: "SMB 2.1", 0x0300: "SMB 3.0", 0x0302: "SMB 3.0.2", 0x0311: "SMB 3.1.1",
            0x02FF: "SMB 2.???"}
SMB1_DIALECT = "NT LM 0.12"
MAX_PDUS = 12
CONF_NAME = 85


def detect(payload: bytes) -> bool:
    if payload[:1] and payload[0] in DATAGRAM_TYPES:
        return payload[DATAGRAM_SMB : DATAGRAM_SMB + 4] == SMB1
    if payload[:1] == b"\x00":
        return payload[4:8] in (SMB1, SMB2)
    return payload[:1] == bytes((SESSION_REQUEST,)) and int.from_bytes(payload[1:4], "big") == 68 == len(payload) - 4


def frame(buf: bytes) -> int:
    if len(buf) < 4:
        return 0
    if buf[0] not in NBSS_TYPES:
        raise ValueError("not a NetBIOS session message")
    return 4 + (int.from_bytes(buf[1:4], "big") & 0x1FFFF)


def netbios_name(encoded: bytes) -> str:
    """A first-level encoded NetBIOS name (RFC 1001 §14.1), without its suffix byte."""
    if len(encoded) != 32:
        raise ValueError("bad NetBIOS name length")
    raw = bytes(((a - 0x41) << 4) | (b - 0x41) for a, b in zip(encoded[::2], encoded[1::2]))
    return clean_text(raw[:15])


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    if session.transport == "udp":
        return _datagram(pdu, session)
    if session.count("pdus") >= MAX_PDUS:
        session.done = True
    if pdu[0]:  # a NetBIOS session packet (direct-hosted SMB's header starts with a zero byte)
        session.services.add("netbios-ssn")
    if pdu[0] == SESSION_REQUEST:  # called name (server), calling name (client)
        called, calling = netbios_name(pdu[5:37]), netbios_name(pdu[39:71])
        return [Fact("netbios_name", name, about_sender=sender, confidence=CONF_NAME)
                for name, sender in ((called, False), (calling, True)) if name and name != "*SMBSERVER"]
    msg = pdu[4:]
    if msg[:4] in (SMB1, SMB2, TRANSFORM):
        session.services.add("smb")
    if msg[:4] == TRANSFORM:
        session.done = True  # encrypted
        return []
    out: list[Event | Fact] = [Fact(attribute, value, confidence=CONF_NAME) for attribute, value in ntlm.facts(msg)]
    if msg[:4] == SMB1:
        out += _smb1(msg, is_orig, session)
    elif msg[:4] == SMB2 and struct.unpack_from("<H", msg, 12)[0] == SMB2_NEGOTIATE:
        out += _smb2_negotiate(msg, session)
    return out


def _event(session: Session) -> tuple[Event, list[Event | Fact]]:
    """The connection's negotiate event, and [it] the first time (to be emitted)."""
    event = session.vars.get("event")
    if event is not None:
        return event, []
    event = session.vars["event"] = Event("negotiate")
    return event, [event]


def _smb1(msg: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    command, flags2, words = msg[4], struct.unpack_from("<H", msg, 10)[0], msg[32]
    data_at = 33 + 2 * words + 2  # after the words and the byte count
    if command == SMB1_NEGOTIATE:
        event, out = _event(session)
        if is_orig:
            dialects = session.vars["dialects"] = [clean_text(d) for d in msg[data_at:].split(b"\x02")[1:]]
            event.attrs["dialects"] = ",".join(dialects)
            if SMB1_DIALECT in dialects:
                event.attrs["smb1_offered"] = "true"
        elif words:  # an SMBv1 answer: the server chose SMBv1 (a choice of SMB2 is answered in SMB2)
            index = struct.unpack_from("<H", msg, 33)[0]
            offered = session.vars.get("dialects", [])
            event.status = offered[index] if index < len(offered) else "SMBv1"
            event.attrs["smb1"] = "true"
        return out
    if command == SMB1_SESSION_SETUP:
        if not is_orig and words in (3, 4):  # response: AndX, action[, security blob length]
            blob_length = struct.unpack_from("<H", msg, 33 + 6)[0] if words == 4 else 0
        elif is_orig and words == 12:  # extended-security request: …, security blob length
            blob_length = struct.unpack_from("<H", msg, 33 + 14)[0]
        else:
            return []
        native_os, lan_man = _strings(msg, data_at + blob_length, bool(flags2 & UNICODE), 2)
        return [Fact(attribute, value, confidence=CONF_NAME) for attribute, value in
                (("os", native_os), ("software", lan_man)) if value]
    return []


def _strings(msg: bytes, pos: int, unicode: bool, count: int) -> list[str]:
    """``count`` null-terminated SMBv1 strings from ``pos`` (Unicode ones 2-aligned from the header)."""
    if unicode:
        pos += pos % 2
        raw = msg[pos:].decode("utf-16-le", "replace").split("\x00")
    else:
        raw = msg[pos:].decode("latin-1").split("\x00")
    return [clean_text(text.encode()) for text in (raw + [""] * count)[:count]]


def _smb2_negotiate(msg: bytes, session: Session) -> list[Event | Fact]:
    event, out = _event(session)
    flags = struct.unpack_from("<I", msg, 16)[0]
    if flags & 1:  # response: structure size, security mode, dialect revision
        dialect = struct.unpack_from("<H", msg, 64 + 4)[0]
        event.status = DIALECTS.get(dialect, f"0x{dialect:04x}")
    else:  # request: structure size, dialect count, …, dialects at offset 36
        count = struct.unpack_from("<H", msg, 64 + 2)[0]
        codes = struct.unpack_from(f"<{count}H", msg, 64 + 36)
        event.attrs["dialects"] = ",".join(DIALECTS.get(c, f"0x{c:04x}") for c in codes)
    return out


def _datagram(pdu: bytes, session: Session) -> list[Event | Fact]:
    """A NetBIOS datagram carrying SMBv1; a browser announcement is an event."""
    if pdu[DATAGRAM_SMB : DATAGRAM_SMB + 4] != SMB1:
        raise ValueError("NetBIOS datagram without SMB")
    session.services |= {"netbios-dgm", "smb"}
    start = pdu.find(BROWSE, DATAGRAM_SMB)
    if start < 0 or pdu[start + len(BROWSE)] not in ANNOUNCEMENTS:
        return []
    body = pdu[start + len(BROWSE) :]
    name, major, minor, kind = clean_text(body[6:22].split(b"\x00", 1)[0]), body[22], body[23], body[24:28]
    server_type = struct.unpack("<I", kind)[0]
    comment = clean_text(body[32:].split(b"\x00", 1)[0])
    action = ANNOUNCEMENTS[body[0]]
    event = Event(action, attrs={"name": name, "os_version": f"{major}.{minor}", "server_type": f"0x{server_type:08x}",
                                 "comment": comment, "smb1": "true"})
    if action == "domain_announcement":  # the name is the workgroup's, the comment its master browser
        return [event, Fact("workgroup", name, confidence=CONF_NAME)]
    out: list[Event | Fact] = [event, Fact("netbios_name", name, confidence=CONF_NAME)]
    if server_type & SV_TYPE_UNIX:
        out.append(Fact("os", "Samba", confidence=CONF_NAME))
    elif server_type & SV_TYPE_NT:
        out.append(Fact("os", f"Windows NT {major}.{minor}", confidence=CONF_NAME))
    return out


PROTOCOL = Protocol("smb", frozenset({"tcp", "udp"}), frozenset({138, 139, 445}), detect, decode, frame)
