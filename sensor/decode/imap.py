"""IMAP (RFC 9051): whether a mailbox login went in clear, never what was typed.

LOGIN, AUTHENTICATE and STARTTLS become events answered by their tagged ``OK``/``NO``/``BAD``.
LOGIN and the AUTHENTICATE PLAIN/LOGIN mechanisms set ``cleartext_credentials``; a LOGIN that
succeeds with a vendor default (``defaults``) sets ``default_credentials``. STARTTLS ends decoding.
"""

from __future__ import annotations

import re

from sensor.decode import defaults
from sensor.decode.ftp import frame  # one PDU: the complete lines at the start of the buffer
from sensor.decode.spec import Event, Fact, Protocol, Session, by_line

CLEAR_MECHANISMS = frozenset({"PLAIN", "LOGIN"})
_GREETING = re.compile(rb"\* (?:OK|PREAUTH)[ \[]")
_COMMAND = re.compile(rb"([A-Za-z0-9.]{1,32}) (LOGIN|AUTHENTICATE|STARTTLS)\b ?(.*)$", re.IGNORECASE)
_ATOM = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')
_TAGGED = re.compile(rb"([A-Za-z0-9.]{1,32}) (OK|NO|BAD)\b", re.IGNORECASE)


def detect(payload: bytes) -> bool:
    return _GREETING.match(payload) is not None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    return by_line(pdu, is_orig, session, "imap", _command, _reply)


def _command(line: bytes, session: Session) -> list[Event | Fact]:
    m = _COMMAND.match(line.strip())
    if m is None:
        return []
    command, attrs = m[2].decode().upper(), {}
    if command == "LOGIN":
        attrs["cleartext_credentials"] = "true"
        words = [quoted or bare for quoted, bare in _ATOM.findall(m[3])]
        if len(words) == 2 and defaults.is_default(words[0].decode("latin-1"), words[1].decode("latin-1")):
            session.vars[f"default {m[1]!r}"] = True
    elif command == "AUTHENTICATE":
        mechanism = m[3].split(b" ")[0].decode("latin-1").upper()[:32]
        attrs["mechanism"] = mechanism
        if mechanism in CLEAR_MECHANISMS:
            attrs["cleartext_credentials"] = "true"
    return [session.ask(m[1], Event(command, attrs=attrs))]


def _reply(line: bytes, session: Session) -> list[Event | Fact]:
    m = _TAGGED.match(line)
    if m is None:
        return []  # untagged data or a continuation
    event = session.answer(m[1])
    if event is None:
        return []
    event.status = m[2].decode().upper()
    if session.vars.pop(f"default {m[1]!r}", False) and event.status == "OK":
        event.attrs["default_credentials"] = "true"
    if event.action == "STARTTLS" and event.status == "OK":
        session.done = True  # TLS from here on
    return []


PROTOCOL = Protocol("imap", frozenset({"tcp"}), frozenset({143}), detect, decode, frame)
