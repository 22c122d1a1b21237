"""Telnet (RFC 854): whether a clear-text login happened, never what was typed.

One "login" event per connection, opened when the server prompts for a login name or password,
with the server's banner line; ``cleartext_credentials`` is set once the client sends anything
after a password prompt, and the status says "failure" when the server then rejects the login;
``default_credentials`` when the login name and password typed at the prompts are a vendor default
(``defaults``) and the server does not reject them. The client's bytes are otherwise only counted,
and what was typed is never sent. Interactive sessions are long, so the flow is done after
MAX_PDUS segments.
"""

from __future__ import annotations

import re

from sensor.decode import defaults
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

IAC, SB, SE = 0xFF, 0xFA, 0xF0
MAX_PDUS = 64
MAX_BANNER = 128
MAX_TYPED = 64  # bytes of a login name or password kept while the login is judged
_NEGOTIATION = re.compile(rb"\xff[\xfa-\xfe]")  # IAC SB/WILL/WONT/DO/DONT
_LOGIN = re.compile(rb"(?:login|user ?name|user)[ \t]*:[ \t]*$", re.IGNORECASE)
_PASSWORD = re.compile(rb"password[ \t]*:[ \t]*$", re.IGNORECASE)
_FAILURE = re.compile(rb"login incorrect|authentication failed|login failed|access denied|bad password",
                      re.IGNORECASE)


def detect(payload: bytes) -> bool:
    """Option negotiation, or a bare prompt for a login name (small embedded servers skip options)."""
    return _NEGOTIATION.match(payload) is not None or (len(payload) < 512 and _LOGIN.search(payload.rstrip(b"\r\n"))
                                                       is not None)


def text(data: bytes) -> bytes:
    """The data without IAC commands and subnegotiations (IAC IAC is a literal 0xFF)."""
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] != IAC:
            out.append(data[i])
            i += 1
        elif data[i + 1 : i + 2] == bytes((IAC,)):
            out.append(IAC)
            i += 2
        elif data[i + 1 : i + 2] == bytes((SB,)):
            end = data.find(bytes((IAC, SE)), i + 2)
            i = len(data) if end < 0 else end + 2
        else:
            i += 3 if data[i + 1 : i + 2] and data[i + 1] >= 0xFB else 2
    return bytes(out)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    session.services.add("telnet")
    if session.count("pdus") >= MAX_PDUS:
        session.done = True
    data = text(pdu)
    event: Event | None = session.vars.get("event")
    if is_orig:
        if event is not None and session.vars.get("password_prompt") and data.strip():
            event.attrs["cleartext_credentials"] = "true"
        if event is not None:
            _type(data, session)
        return []
    lines = data.replace(b"\r", b"").split(b"\n")
    if not session.vars.get("banner"):
        banner = next((line for line in lines if line.strip() and not _LOGIN.search(line)), b"")
        session.vars["banner"] = clean_text(banner, MAX_BANNER)
    out: list[Event | Fact] = []
    prompt = lines[-1].rstrip()
    if event is None and (_LOGIN.search(prompt) or _PASSWORD.search(prompt)):
        event = session.vars["event"] = Event("login", attrs={"banner": session.vars["banner"]})
        out.append(event)
    if event is not None:
        typed = session.vars.get("typed", {})
        if "password" in typed and not session.vars.get("judged") and data.strip():
            session.vars["judged"] = True  # the server's first answer to the password
            if not _FAILURE.search(data) and defaults.is_default(typed.get("user", ""), typed["password"]):
                event.attrs["default_credentials"] = "true"
        if _PASSWORD.search(prompt):
            session.vars["password_prompt"] = True
            session.vars["field"] = "password"
        elif _LOGIN.search(prompt):
            session.vars["field"] = "user"
        if event.attrs.get("cleartext_credentials") and _FAILURE.search(data):
            event.status = "failure"
    return out


def _type(data: bytes, session: Session) -> None:
    """Collect what the client types at the current prompt, up to its line end (typed a key at a
    time or as one line)."""
    field = session.vars.pop("field", None) if b"\r" in data or b"\n" in data else session.vars.get("field")
    if field is None:
        return
    typed = session.vars.setdefault("typed", {})
    line = data.split(b"\r")[0].split(b"\n")[0]
    typed[field] = (typed.get(field, "") + line.decode("latin-1"))[:MAX_TYPED]


PROTOCOL = Protocol("telnet", frozenset({"tcp"}), frozenset({23, 2323}), detect, decode)
