"""RTCP (RFC 3550 §6), the control channel beside an RTP stream: its sender and receiver reports
carry the loss and jitter the endpoints measure, at no cost to the RTP hot path.

Reports come every few seconds for the life of a stream, so a flow gives at most one "report"
event per REPORT_EVERY seconds (the latest report's figures: fraction lost, cumulative loss,
jitter in timestamp units, the sender's packet and octet counts) and one "bye" event.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
TYPES = {200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 204: "APP", 205: "RTPFB", 206: "PSFB", 207: "XR"}
REPORT_EVERY = 60.0  # seconds between report events of a flow
BLOCK = struct.Struct(">IB3sII4s4s")  # SSRC, fraction lost, cumulative lost, highest seq, jitter, LSR, DLSR


def packets(data: bytes) -> list[tuple[int, int, bytes]]:
    """(packet type, count field, body) of each packet of a compound RTCP datagram; the lengths
    must add up to the datagram."""
    out, pos = [], 0
    while pos < len(data):
        first, kind, words = struct.unpack_from(">BBH", data, pos)
        end = pos + 4 * (words + 1)
        if first >> 6 != 2 or kind not in TYPES or end > len(data):
            raise ValueError("not an RTCP packet")
        out.append((kind, first & 0x1F, data[pos + 4 : end]))
        pos = end
    return out


def detect(payload: bytes) -> bool:
    try:
        return bool(payload) and packets(payload)[0][0] in (SR, RR)  # a compound datagram starts with a report
    except (ValueError, struct.error):
        return False


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    session.services.add("rtcp")
    out: list[Event | Fact] = []
    for kind, count, body in packets(pdu):
        if kind == BYE:
            out.append(Event("bye", attrs={"ssrc": f"0x{struct.unpack_from('>I', body)[0]:08x}" if body else ""}))
        elif kind in (SR, RR) and session.ts >= session.vars.get("next_report", 0.0):
            session.vars["next_report"] = session.ts + REPORT_EVERY
            out.append(_report(kind, count, body))
    return out


def _report(kind: int, count: int, body: bytes) -> Event:
    (ssrc,) = struct.unpack_from(">I", body)
    attrs: dict[str, object] = {"type": TYPES[kind], "ssrc": f"0x{ssrc:08x}"}
    pos = 4
    if kind == SR:  # NTP time, RTP time, sender's packet and octet counts
        attrs["sender_packets"], attrs["sender_octets"] = struct.unpack_from(">II", body, 16)
        pos = 24
    if count:  # the first report block
        _, fraction, lost, _, jitter, _, _ = BLOCK.unpack_from(body, pos)
        attrs.update(fraction_lost=f"{fraction / 256:.4f}",
                     cumulative_lost=int.from_bytes(lost, "big", signed=True), jitter=jitter)
    return Event("report", attrs=attrs)


PROTOCOL = Protocol("rtcp", frozenset({"udp"}), frozenset(), detect, decode)
