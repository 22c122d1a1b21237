"""FTP control channel (RFC 959): one event per command, answered in order by the final replies,
like Zeek's ftp.log. The server's greeting becomes a software fact.

User names and passwords are never kept: USER and PASS events carry no argument, PASS sets
``cleartext_credentials`` and USER says whether the login is anonymous; a PASS that logs in (230)
with a vendor default (``defaults``) sets ``default_credentials``. AUTH TLS ends decoding:
the rest of the control channel is encrypted.
"""

from __future__ import annotations

import re

from sensor.decode import defaults
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session, by_line

MAX_LINE = 4096
MAX_ARG = 256
SECRET_COMMANDS = frozenset({"USER", "PASS", "ACCT"})
ANONYMOUS = frozenset({"anonymous", "ftp"})
_GREETING = re.compile(rb"220[ -][^\r\n]*ftp", re.IGNORECASE)
# commands only FTP clients send first (USER is POP3's too)
_CLIENT_FIRST = re.compile(rb"(?:AUTH (?:TLS|SSL)|FEAT|SYST|PASV|EPSV|PWD|TYPE [AI])\r?\n", re.IGNORECASE)
_COMMAND = re.compile(rb"([A-Za-z]{3,4})(?: (.*))?$")
_REPLY = re.compile(rb"([1-5]\d\d)([ -])(.*)$")
CONF_SOFTWARE = 60


def detect(payload: bytes) -> bool:
    return _GREETING.match(payload) is not None or _CLIENT_FIRST.match(payload) is not None


def frame(buf: bytes) -> int:
    """Every complete line at the start of the buffer."""
    end = buf.rfind(b"\n")
    if end < 0 and len(buf) > MAX_LINE:
        raise ValueError("FTP line too long")
    return end + 1


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    return by_line(pdu, is_orig, session, "ftp", _command, _reply)


def _command(line: bytes, session: Session) -> list[Event | Fact]:
    m = _COMMAND.match(line.strip())
    if m is None:
        return []
    command, arg = m[1].decode().upper(), m[2] or b""
    if command in SECRET_COMMANDS:
        attrs = {"cleartext_credentials": "true"} if command == "PASS" else {}
        if command == "USER":
            attrs["anonymous"] = "true" if arg.strip().lower().decode("latin-1") in ANONYMOUS else "false"
    else:
        attrs = {"arg": clean_text(arg, MAX_ARG)}
    event = session.ask(session.count("commands"), Event(command, attrs=attrs))
    if command == "USER":
        session.vars["user"] = arg.strip()[:MAX_ARG].decode("latin-1")  # for the check below only
    elif command == "PASS" and defaults.is_default(str(session.vars.get("user", "")), arg.decode("latin-1")):
        session.vars["default_pass"] = event
    return [event]


def _reply(line: bytes, session: Session) -> list[Event | Fact]:
    m = _REPLY.match(line.strip())
    if m is None or m[2] == b"-":
        return []  # a line of a multi-line reply; its last line has the code and a space
    code, text = m[1].decode(), clean_text(m[3], MAX_ARG)
    if not session.vars.get("greeted"):
        session.vars["greeted"] = True
        if code == "220":
            return [Fact("software", text, confidence=CONF_SOFTWARE)] if text else []
    if code.startswith("1"):
        return []  # preliminary reply: the final one follows
    out: list[Event | Fact] = []
    event = session.answer_in_turn("replies", out)
    event.status = code
    event.attrs["reply_msg"] = text
    if session.vars.get("default_pass") is event:
        del session.vars["default_pass"]
        if code == "230":  # logged in
            event.attrs["default_credentials"] = "true"
    if event.action == "AUTH" and code == "234":
        session.done = True  # TLS from here on
    return out


PROTOCOL = Protocol("ftp", frozenset({"tcp"}), frozenset({21}), detect, decode, frame)
