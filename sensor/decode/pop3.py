"""POP3 (RFC 1939, 5034): whether a mailbox login went in clear, never what was typed.

USER, PASS, APOP and AUTH become events answered by the next ``+OK``/``-ERR``. PASS and the
AUTH PLAIN/LOGIN mechanisms set ``cleartext_credentials`` (APOP sends a digest); a login that
succeeds with a vendor default (``defaults``) sets ``default_credentials``. STLS ends decoding.
"""

from __future__ import annotations

import re

from sensor.decode import defaults
from sensor.decode.ftp import frame  # one PDU: the complete lines at the start of the buffer
from sensor.decode.spec import Event, Fact, Protocol, Session, by_line

MAX_ARG = 256
LOGIN = frozenset({"USER", "PASS", "APOP", "AUTH", "STLS"})
CLEAR_MECHANISMS = frozenset({"PLAIN", "LOGIN"})
_GREETING = re.compile(rb"\+OK[ \r\n]")
_CLIENT_FIRST = re.compile(rb"(?:CAPA|STLS|USER [^\r\n]+|APOP [^\r\n]+)\r?\n", re.IGNORECASE)


def detect(payload: bytes) -> bool:
    return _GREETING.match(payload) is not None or _CLIENT_FIRST.match(payload) is not None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    return by_line(pdu, is_orig, session, "pop3", _command, _reply)


def _command(line: bytes, session: Session) -> list[Event | Fact]:
    word, _, arg = line.strip().partition(b" ")
    command = word.decode("latin-1").upper()
    if command not in LOGIN:
        return []
    attrs: dict[str, object] = {}
    if command == "USER":
        session.vars["user"] = arg[:MAX_ARG].decode("latin-1")  # kept for the check below only
    elif command == "PASS":
        attrs["cleartext_credentials"] = "true"
        session.vars["default"] = defaults.is_default(str(session.vars.get("user", "")), arg.decode("latin-1"))
    elif command == "AUTH":
        mechanism = arg.split(b" ")[0].decode("latin-1").upper()[:32]
        attrs["mechanism"] = mechanism
        if mechanism in CLEAR_MECHANISMS:
            attrs["cleartext_credentials"] = "true"
    event = session.vars["event"] = Event(command, attrs=attrs)
    return [event]


def _reply(line: bytes, session: Session) -> list[Event | Fact]:
    if not line.startswith((b"+OK", b"-ERR")):
        return []  # the greeting's text, a SASL challenge ("+ "), or a listing
    event: Event | None = session.vars.pop("event", None)
    if event is None:
        return []
    event.status = "OK" if line.startswith(b"+OK") else "ERR"
    if event.action == "PASS" and session.vars.pop("default", False) and event.status == "OK":
        event.attrs["default_credentials"] = "true"
    if event.action == "STLS" and event.status == "OK":
        session.done = True  # TLS from here on
    return []


PROTOCOL = Protocol("pop3", frozenset({"tcp"}), frozenset({110}), detect, decode, frame)
