"""SMTP submission (RFC 5321, 4954): whether a login went in clear, never what was typed.

AUTH becomes an event answered by the server's final reply (235 accepted, 535 refused). The
PLAIN and LOGIN mechanisms set ``cleartext_credentials`` (their base64 is no protection); a login
that succeeds with a vendor default (``defaults``) sets ``default_credentials``. STARTTLS ends
decoding once the server agrees.
"""

from __future__ import annotations

import base64
import binascii
import re

from sensor.decode import defaults
from sensor.decode.ftp import frame  # one PDU: the complete lines at the start of the buffer
from sensor.decode.spec import Event, Fact, Protocol, Session, by_line

CLEAR_MECHANISMS = frozenset({"PLAIN", "LOGIN"})
_GREETING = re.compile(rb"220[ -][^\r\n]*(?:SMTP|ESMTP|Postfix|Exim|Sendmail)", re.IGNORECASE)
_CLIENT_FIRST = re.compile(rb"(?:EHLO|HELO) [^\r\n]+\r?\n", re.IGNORECASE)


def detect(payload: bytes) -> bool:
    return _GREETING.match(payload) is not None or _CLIENT_FIRST.match(payload) is not None


def _b64(data: bytes) -> str:
    try:
        return base64.b64decode(data.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    return by_line(pdu, is_orig, session, "smtp", _client, _server)


def _client(line: bytes, session: Session) -> list[Event | Fact]:
    sasl: list[str] | None = session.vars.get("sasl")  # what the client typed for AUTH so far
    if sasl is not None:
        sasl.append(_b64(line))
        return []
    word, _, arg = line.strip().partition(b" ")
    command = word.decode("latin-1").upper()
    if command == "STARTTLS":
        session.vars["event"] = Event("STARTTLS")
        return [session.vars["event"]]
    if command != "AUTH":
        return []
    mechanism, _, initial = arg.partition(b" ")
    name = mechanism.decode("latin-1").upper()[:32]
    event = session.vars["event"] = Event("AUTH", attrs={"mechanism": name})
    if name in CLEAR_MECHANISMS:
        event.attrs["cleartext_credentials"] = "true"
        session.vars["sasl"] = [_b64(initial)] if initial else []
    return [event]


def _server(line: bytes, session: Session) -> list[Event | Fact]:
    code = line[:3]
    if not code.isdigit() or line[3:4] == b"-" or code == b"334":
        return []  # a line of a multi-line reply, or a SASL challenge
    event: Event | None = session.vars.pop("event", None)
    typed = session.vars.pop("sasl", None) or []
    if event is None:
        return []
    event.status = code.decode()
    if event.action == "STARTTLS" and code == b"220":
        session.done = True  # TLS from here on
    elif code == b"235" and _default(event.attrs.get("mechanism"), typed):
        event.attrs["default_credentials"] = "true"
    return []


def _default(mechanism: object, typed: list[str]) -> bool:
    """Whether the SASL exchange (PLAIN: authzid NUL user NUL password; LOGIN: user, password)
    carried a vendor default."""
    if mechanism == "PLAIN" and typed:
        parts = typed[0].split("\0")
        return len(parts) == 3 and defaults.is_default(parts[1], parts[2])
    return mechanism == "LOGIN" and len(typed) >= 2 and defaults.is_default(typed[-2], typed[-1])


PROTOCOL = Protocol("smtp", frozenset({"tcp"}), frozenset({25, 587}), detect, decode, frame)
