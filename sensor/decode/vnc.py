"""VNC's remote framebuffer protocol (RFC 6143 §7.1.1): the server's and the client's ProtocolVersion
banners ("RFB 003.008"); one "handshake" event per connection. Authentication follows, so the
flow is done once the client has answered."""

from __future__ import annotations

import re

from sensor.decode.spec import Event, Protocol, Session

_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


def detect(payload: bytes) -> bool:
    return _VERSION.match(payload) is not None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    m = _VERSION.match(pdu)
    if m is None:
        return []
    session.services.add("vnc")
    version = f"{int(m[1])}.{int(m[2])}"
    if not is_orig:
        return [session.ask("version", Event("handshake", attrs={"server_version": version}))]
    event = session.answer("version")
    session.done = True
    if event is None:
        return [Event("handshake", attrs={"client_version": version})]
    event.attrs["client_version"] = version
    return []


PROTOCOL = Protocol("vnc", frozenset({"tcp"}), frozenset({5900, 5901, 5902, 5903}), detect, decode)
