"""What an application-protocol module declares, and what its decoder hands back.

Each protocol module (``modbus.py``, ``s7comm.py`` …) declares one ``Protocol`` as data: its
name, transports, well-known ports (hints for the order of detection, never a verdict), a
``detect`` function that recognises the protocol from a payload, a ``frame`` function that cuts
a TCP byte stream into PDUs (a UDP datagram is decoded whole), and ``decode``, which turns one
PDU into ``Event`` and ``Fact`` items using the flow's ``Session``. ``registry.PROTOCOLS`` binds
the modules; ``sensor.meter.applayer`` runs them. A protocol carried straight in Ethernet frames
declares a ``LinkProtocol`` instead (``registry.LINK_PROTOCOLS``, run by ``sensor.meter.linklayer``).
On malformed input these functions raise only ValueError, IndexError or struct.error
(``MALFORMED``), which the stages count and skip. The registry binds them ``guarded``: any other
exception (a decoder bug) costs that one PDU too, as a ``DecoderFault``, counted in ``FAULTS`` and
logged with its traceback once per protocol, rather than the capture (the observer's parsers are
``guard``-ed likewise).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MALFORMED = (ValueError, IndexError, struct.error)
FAULTS: Counter[str] = Counter()  # decoder failures other than MALFORMED, per protocol, since start
MAX_PENDING = 256  # unanswered requests kept per flow


@dataclass(slots=True)
class Event:
    """One application-level action (a row of wire.EVENTS once the app layer stamps it)."""

    action: str
    status: str = ""
    attrs: dict[str, object] = field(default_factory=dict)  # values become strings; empty ones are dropped
    protocol: str = ""  # default: the Protocol's name
    ts: float = 0.0  # default: the time of the packet that completed the PDU


@dataclass(frozen=True, slots=True)
class Fact:
    """An asset fact about the PDU's sender (or its receiver), e.g. a product name it reported."""

    attribute: str
    value: str
    about_sender: bool = True
    confidence: int = 90


class Session:
    """A flow's decoder state: the Zeek-style services confirmed so far, requests awaiting their
    response (``ask``/``answer``; the app layer forgets them at each interval end, after which a
    response stands alone), and ``vars`` for anything else the decoder keeps. A decoder that
    keeps what it could read of a PDU and skips a malformed rest counts that in ``malformed``."""

    __slots__ = ("done", "malformed", "pause", "pending", "services", "transport", "ts", "vars")

    def __init__(self, transport: str = "tcp") -> None:
        self.transport = transport  # "tcp", "udp" or "l2"
        self.ts = 0.0  # time of the packet being decoded
        self.services: set[str] = set()
        self.pending: dict[object, Event] = {}
        self.vars: dict[str, object] = {}
        self.done = False  # set by a decoder when nothing more is to be learnt from the flow
        self.pause = False  # … nothing more this interval (a cyclic exchange): cleared at the interval end
        self.malformed = 0

    def count(self, name: str) -> int:
        """How many times ``name`` was counted in this flow, this time included (1, 2, …): PDUs seen,
        or the order numbers that pair pipelined requests with their responses."""
        n = self.vars[name] = self.vars.get(name, 0) + 1
        return n

    def ask(self, key: object, event: Event) -> Event:
        if len(self.pending) < MAX_PENDING:
            self.pending[key] = event
        return event

    def answer(self, key: object) -> Event | None:
        """The request ``key`` answers, with its round-trip time noted, or None."""
        event = self.pending.pop(key, None)
        if event is not None:
            event.attrs["rtt"] = f"{max(self.ts - event.ts, 0.0):.6f}"
        return event

    def answer_in_turn(self, counter: str, out: list[Event | Fact]) -> Event:
        """For protocols whose n-th response answers the n-th request (requests asked under
        ``count(...)``): the request this response answers, or, when it was not seen this interval,
        a stand-alone ``-`` event appended to ``out``."""
        event = self.answer(self.count(counter))
        if event is None:
            event = Event("-")
            out.append(event)
        return event


LineParser = Callable[[bytes, Session], list[Event | Fact]]


def salvage(session: Session, read: Callable[..., list[Fact]], *args: object) -> list[Fact]:
    """The facts ``read(*args)`` finds in the optional part of a PDU (an answer's identity), or none
    when that part is malformed, which is counted: the PDU's event stands either way."""
    try:
        return read(*args)
    except MALFORMED:
        session.malformed += 1
        return []


def by_line(pdu: bytes, is_orig: bool, session: Session, service: str, client: LineParser,
            server: LineParser) -> list[Event | Fact]:
    """A PDU of a line-based command protocol (FTP, POP3, IMAP, SMTP), each line read by the
    client's or the server's parser; the flow is marked as ``service``."""
    session.services.add(service)
    parse = client if is_orig else server
    return [item for line in pdu.splitlines() for item in parse(line, session)]


@dataclass(frozen=True)
class Protocol:
    name: str
    transports: frozenset[str]  # {"tcp"}, {"udp"} or both
    ports: frozenset[int]  # hints: protocols bound to a flow's port are tried first
    detect: Callable[[bytes], bool]  # does this payload start a PDU of the protocol?
    decode: Callable[[bytes, bool, Session], list[Event | Fact]]  # (PDU, from originator?, state)
    frame: Callable[[bytes], int] | None = None  # TCP: PDU length at the start of a buffer, 0 = need more


@dataclass(frozen=True)
class LinkProtocol:
    """A protocol carried straight in Ethernet frames (no IP), bound by its EtherType; 0 binds
    802.3 frames whose payload starts with ``llc`` (an LLC/SNAP header). ``decode`` takes the
    payload after the MAC header and VLAN tags, whether the L2 flow's originator sent it, and the
    flow's state; its facts are about the sender's MAC (or the receiver's). ``cyclic`` marks, from
    each frame's stream id (its payload's first 16 bits: PROFINET frame id, GOOSE APPID, CC-Link
    IE frame type …), the frames of periodic streams, which the link-layer stage samples."""

    name: str
    ethertype: int
    decode: Callable[[bytes, bool, Session], list[Event | Fact]]
    cyclic: Callable[[np.ndarray], np.ndarray] | None = None  # stream ids → mask of cyclic ones
    llc: bytes = b""


class DecoderFault(ValueError):
    """A decoder failed otherwise than on malformed input; its PDU is counted as malformed."""


def guard(name: str, fn: Callable) -> Callable:
    """``fn`` raising DecoderFault (counted, logged) instead of anything but MALFORMED."""

    @functools.wraps(fn)
    def call(*args):
        try:
            return fn(*args)
        except MALFORMED:
            raise
        except Exception as exc:  # noqa: BLE001 - hostile input must not stop the capture
            count_fault(name, exc)
            raise DecoderFault(f"{name}: {type(exc).__name__}") from exc
    return call


def count_fault(name: str, exc: Exception) -> None:
    """A decoder of ``name`` failed otherwise than on malformed input: counted, logged the first time."""
    if not FAULTS[name]:
        log.error("the %s decoder failed (counted as a malformed PDU from now on)", name, exc_info=exc)
    FAULTS[name] += 1


def guarded(proto: Protocol | LinkProtocol) -> Protocol | LinkProtocol:
    """``proto`` with its decoding functions guarded (see the module docstring)."""
    names = ("detect", "decode", "frame") if isinstance(proto, Protocol) else ("decode",)
    return dataclasses.replace(proto, **{n: guard(proto.name, getattr(proto, n))
                                         for n in names if getattr(proto, n) is not None})
