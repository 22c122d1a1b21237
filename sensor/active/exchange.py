"""One device's exchange: the planned messages sent in order over one socket, each answer read
within the exchange's deadline and handed to the protocol's passive decoder (``registry``) as if
the sensor had seen it on the mirror port, so an answer gives the same facts as passive traffic.

Nothing but the planned messages is ever written. An answer that does not come in time, does not
frame, or that the decoder finds malformed ends the exchange with an ``Outcome`` naming why.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sensor.decode import registry
from sensor.decode.spec import MALFORMED, Event, Fact, Session

if TYPE_CHECKING:
    from sensor.active.settings import ActiveSettings
    from sensor.active.targets import Target

MAX_ANSWER = 65_536  # bytes read for one answer at most


@dataclass(frozen=True)
class Message:
    """One message of a request: its bytes and what they mean. ``masked`` is the message as logs
    show it when the bytes hold a secret (the SNMP community, masked as '*')."""

    data: bytes
    meaning: str
    masked: bytes | None = None
    answered: Callable[[bytes], bool] | None = None  # the answer lets the exchange go on (default: any)

    def logged_hex(self) -> str:
        return (self.data if self.masked is None else self.masked).hex()


@dataclass(frozen=True)
class Probe:
    """A protocol's identity request: the event ``action`` it is reported as, and the messages it
    sends to a target, in order (``messages`` is all that is ever sent)."""

    name: str  # the protocol, as its decoder and the flows' service name it
    action: str
    messages: Callable[[Target, ActiveSettings], list[Message]]


@dataclass
class Outcome:
    """What an exchange came to: ``status`` identified, answered (no identity in the answer),
    timeout, refused, malformed or error; the facts and the decoder's events."""

    status: str
    facts: list[Fact] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    detail: str = ""
    local: str = ""  # the sensor's address the request left from


class Malformed(Exception):
    """An answer that does not frame or that the decoder cannot read."""


def _decoder(name: str):
    return next(p for p in registry.PROTOCOLS if p.name == name)


def run(protocol: str, transport: str, ip: str, port: int, messages: list[Message], timeout: float) -> Outcome:
    """Send ``messages`` to ``ip``:``port`` one by one, each after the previous one's answer."""
    decoder = _decoder(protocol)
    session = Session(transport)
    deadline = time.monotonic() + timeout
    out = Outcome("answered")
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, kind) as sock:
            sock.settimeout(timeout)
            sock.connect((ip, port))
            out.local = sock.getsockname()[0]
            for message in messages:
                sock.sendall(message.data)
                answer = _read(sock, decoder.frame if transport == "tcp" else None, deadline)
                _decode(decoder, session, message.data, answer, out)
                if message.answered is not None and not message.answered(answer):
                    break
            if transport == "tcp":
                _close(sock)
    except (TimeoutError, socket.timeout):
        out.status, out.detail = "timeout", f"no answer within {timeout:g} s"
    except Malformed as exc:
        out.status, out.detail = "malformed", str(exc)
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError) as exc:
        out.status, out.detail = "refused", type(exc).__name__
    except OSError as exc:
        out.status, out.detail = "error", exc.strerror or type(exc).__name__
    if out.status == "answered" and out.facts:
        out.status = "identified"
    refused = [f"{event.action}: {event.status}" for event in out.events if event.status not in ("", "OK")]
    if refused and not out.detail:  # what the device said no to (a Modbus exception, an S7 error class …)
        out.detail = "; ".join(refused)
    return out


def _close(sock: socket.socket) -> None:
    """Disconnect (a device that closed first has said all it had to)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _read(sock: socket.socket, frame, deadline: float) -> bytes:
    """One answer: a datagram, or one PDU of the stream as the decoder frames it."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(MAX_ANSWER)
        if frame is None:
            return chunk
        if not chunk:
            raise Malformed("the device closed the connection" + (" mid-answer" if buf else " without an answer"))
        buf += chunk
        try:
            size = frame(buf)
        except MALFORMED as exc:
            raise Malformed(f"the answer does not frame: {exc}") from None
        if 0 < size <= len(buf):
            return buf[:size]
        if len(buf) >= MAX_ANSWER:
            raise Malformed("the answer is too long")


def _decode(decoder, session: Session, request: bytes, answer: bytes, out: Outcome) -> None:
    try:
        items = decoder.decode(request, True, session) + decoder.decode(answer, False, session)
    except MALFORMED as exc:
        raise Malformed(f"the {decoder.name} decoder cannot read the answer: {exc}") from None
    if session.malformed:
        raise Malformed(f"the {decoder.name} decoder found the answer's identity malformed")
    out.facts += [item for item in items if isinstance(item, Fact)]
    out.events += [item for item in items if isinstance(item, Event)]
