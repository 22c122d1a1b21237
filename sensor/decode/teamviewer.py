"""TeamViewer's own protocol on TCP/UDP 5938, recognised by its packets' first two bytes (a 0x17 0x24
or 0x11 0x30 command header, as nDPI does); the content is encrypted, so one "session" event per
flow names it and the flow is then done."""

from __future__ import annotations

from sensor.decode.spec import Event, Protocol, Session

MAGIC = (b"\x17\x24", b"\x11\x30")


def detect(payload: bytes) -> bool:
    return len(payload) >= 4 and payload.startswith(MAGIC)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    session.services.add("teamviewer")
    session.done = True
    return [Event("session")]


PROTOCOL = Protocol("teamviewer", frozenset({"tcp", "udp"}), frozenset({5938}), detect, decode)
