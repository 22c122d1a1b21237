"""RDP's connection sequence (MS-RDPBCGR 2.2.1.1–2.2.1.2): the X.224 connection request and confirm
in TPKT, which name the security protocols the client asks for and the one the server picks.

One "connect" event per connection. The request's routing cookie (``mstshash=`` user name) is never
kept. TLS or CredSSP follows the confirm, so the flow is then done.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Protocol, Session

CR, CC = 0xE0, 0xD0  # X.224 connection request, confirm
NEG_REQ, NEG_RSP, NEG_FAILURE = 1, 2, 3
PROTOCOLS = ((1, "ssl"), (2, "hybrid"), (8, "hybrid_ex"), (16, "rdstls"))  # requestedProtocols bits; 0 = rdp
_HEAD = 11  # TPKT (4), length indicator, code, destination and source references, class


def frame(buf: bytes) -> int:
    if len(buf) < 4:
        return 0
    if buf[0] != 3:
        raise ValueError("not a TPKT header")
    return struct.unpack_from(">H", buf, 2)[0]


def detect(payload: bytes) -> bool:
    """A TPKT connection request carrying a routing cookie or an RDP negotiation request (S7's and
    MMS's carry TSAP parameters instead)."""
    if len(payload) < _HEAD or payload[:2] != b"\x03\x00" or payload[5] != CR:
        return False
    rest = payload[_HEAD:]
    return rest.startswith((b"Cookie: ", b"cookie: ")) or (rest[:1] == bytes((NEG_REQ,)) and rest[2:4] == b"\x08\x00")


def _names(bits: int) -> str:
    return ",".join(name for bit, name in PROTOCOLS if bits & bit) or "rdp"


def _negotiation(pdu: bytes) -> tuple[int, int] | None:
    """(type, protocols) of the negotiation structure at the PDU's end, if any."""
    if len(pdu) >= _HEAD + 8 and pdu[-6:-4] == b"\x08\x00":
        kind, _, _, protocols = struct.unpack_from("<BBHI", pdu, len(pdu) - 8)
        return kind, protocols
    return None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    if len(pdu) < _HEAD:
        raise ValueError("X.224 header truncated")
    session.services.add("rdp")
    neg = _negotiation(pdu)
    if is_orig and pdu[5] == CR:
        attrs = {"requested_protocols": _names(neg[1]) if neg and neg[0] == NEG_REQ else "rdp"}
        return [session.ask("connect", Event("connect", attrs=attrs))]
    if not is_orig and pdu[5] == CC:
        session.done = True  # the security protocol's handshake follows
        out: list[Event] = []
        event = session.answer("connect")
        if event is None:  # the request was not seen this interval
            event = Event("connect")
            out.append(event)
        if neg and neg[0] == NEG_RSP:
            event.attrs["selected_protocol"] = _names(neg[1])
        event.status = "failure" if neg and neg[0] == NEG_FAILURE else "OK"
        return out
    return []


PROTOCOL = Protocol("rdp", frozenset({"tcp"}), frozenset({3389}), detect, decode, frame)
