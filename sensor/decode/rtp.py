"""RTP media streams (RFC 3550): facts from a sample, never from every packet.

RTP is bulk traffic, so only a flow's first SAMPLE packets per direction reach this decoder: CONFIRM
of them in sequence under one SSRC confirm that direction's stream (the service "rtp" and one
"stream" event; two-way media has one each way), the rest of the sample refines the event (payload
type and codec, loss per RFC 3550 A.1, interarrival jitter per A.8, the bitrate over the sample,
which an I-frame burst inflates), then the flow is marked done and no later packet reaches Python.
The flow record still counts every byte and packet, so the stream's whole bitrate is there.
A flow whose first packets are not one stream is given up without a service.

UDP carries one RTP packet per datagram; on TCP each packet has a 16-bit length prefix (RFC 4571).
RTSP-interleaved streams are sampled the same way by ``sensor.decode.rtsp``.
"""

from __future__ import annotations

import math
import struct

from sensor.decode import dns
from sensor.decode.spec import Event, Fact, Protocol, Session

SAMPLE = 64  # packets of a flow decoded
CONFIRM = 4  # packets in sequence, one SSRC, that confirm a stream
MAX_STEP = 100  # sequence-number step still taken as the same stream
# static payload types (RFC 3551): name, clock rate
STATIC_TYPES = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 5: ("DVI4", 8000), 6: ("DVI4", 16000),
    7: ("LPC", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 10: ("L16", 44100), 11: ("L16", 44100),
    12: ("QCELP", 8000), 13: ("CN", 8000), 14: ("MPA", 90000), 15: ("G728", 8000), 16: ("DVI4", 11025),
    17: ("DVI4", 22050), 18: ("G729", 8000), 25: ("CelB", 90000), 26: ("JPEG", 90000), 28: ("nv", 90000),
    31: ("H261", 90000), 32: ("MPV", 90000), 33: ("MP2T", 90000), 34: ("H263", 90000),
}
CLOCKS = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 90000)  # for dynamic types, the nearest is taken
HEADER = struct.Struct(">BBHII")


def parse(data: bytes) -> tuple[int, int, int, int] | None:
    """(payload type, sequence number, timestamp, SSRC) of a plausible RTP packet, or None."""
    if len(data) < HEADER.size:
        return None
    first, second, seq, stamp, ssrc = HEADER.unpack_from(data)
    pt = second & 0x7F
    if first >> 6 != 2 or not (pt in STATIC_TYPES or pt >= 96) or ssrc == stamp == 0:  # zeros are padding
        return None
    end = HEADER.size + 4 * (first & 0x0F)  # CSRC list
    if first & 0x10:  # header extension
        if len(data) < end + 4:
            return None
        end += 4 + 4 * int.from_bytes(data[end + 2 : end + 4], "big")
    padding = data[-1] if first & 0x20 else 0
    return (pt, seq, stamp, ssrc) if end + padding <= len(data) else None


def detect(payload: bytes) -> bool:
    if parse(payload) is not None:
        return not dns.is_query_like(payload)  # a DNS id and flags can look like an RTP header
    length = int.from_bytes(payload[:2], "big")  # RFC 4571 framing
    return 2 + HEADER.size <= 2 + length <= len(payload) and parse(payload[2 : 2 + length]) is not None


def frame(buf: bytes) -> int:
    return 2 + int.from_bytes(buf[:2], "big") if len(buf) >= 2 else 0


class Sampler:
    """The first packets of one stream (its SSRC is the first packet's)."""

    __slots__ = ("arrivals", "codec", "octets", "pt", "rate", "seqs", "ssrc", "stamps")

    def __init__(self, pt: int, ssrc: int, rtpmap: dict[int, tuple[str, int]]) -> None:
        self.ssrc, self.pt = ssrc, pt
        self.codec, self.rate = rtpmap.get(pt) or STATIC_TYPES.get(pt) or ("dynamic", 0)
        self.arrivals: list[float] = []
        self.seqs: list[int] = []  # extended (unwrapped) sequence numbers
        self.stamps: list[int] = []  # unwrapped timestamps
        self.octets = 0

    def add(self, ts: float, seq: int, stamp: int, size: int) -> bool:
        """Take a packet of the stream; False if its sequence number jumps (not the same stream)."""
        if self.seqs:
            step = (seq - self.seqs[-1]) & 0xFFFF
            step = step - 0x10000 if step >= 0x8000 else step
            if abs(step) > MAX_STEP:
                return False
            seq = self.seqs[-1] + step
            delta = (stamp - self.stamps[-1]) & 0xFFFFFFFF
            stamp = self.stamps[-1] + (delta - (1 << 32) if delta >= 1 << 31 else delta)
        self.arrivals.append(ts)
        self.seqs.append(seq)
        self.stamps.append(stamp)
        self.octets += size
        return True

    @property
    def confirmed(self) -> bool:
        return len(self.seqs) >= CONFIRM and all(0 < b - a <= MAX_STEP for a, b in zip(self.seqs, self.seqs[1:CONFIRM]))

    def clock(self) -> int:
        """Timestamp clock rate: the known one, else the standard rate nearest to what the sample shows."""
        if self.rate:
            return self.rate
        rates = sorted((b - a) / (t - s) for s, t, a, b in zip(self.arrivals, self.arrivals[1:], self.stamps, self.stamps[1:])
                       if t - s > 0.001 and b > a)
        if not rates:
            return 90000  # dynamic video is the usual case on camera networks
        rate = rates[len(rates) // 2]  # the median pair: bursts and gaps do not move it
        return min(CLOCKS, key=lambda c: abs(math.log(rate / c)))

    def summary(self) -> dict[str, object]:
        expected = max(self.seqs) - min(self.seqs) + 1
        clock = self.clock()
        jitter = 0.0  # RFC 3550 A.8, in seconds
        for i in range(1, len(self.seqs)):
            transit = (self.arrivals[i] - self.arrivals[i - 1]) - (self.stamps[i] - self.stamps[i - 1]) / clock
            jitter += (abs(transit) - jitter) / 16
        span = self.arrivals[-1] - self.arrivals[0]
        return {
            "ssrc": f"0x{self.ssrc:08x}", "payload_type": self.pt,
            "codec": self.codec, "clock_rate": clock,
            "sampled": len(self.seqs), "lost": max(expected - len(self.seqs), 0),
            "jitter_ms": f"{jitter * 1000:.3f}", "sample_bitrate": round(self.octets * 8 / span) if span > 0 else "",
        }


def sample(data: bytes, session: Session, key: str = "rtp") -> Event | None:
    """Add one packet to the flow's sample under ``key``: the stream's event when this packet
    confirms it (the event is then updated in place as the sample grows). Sets ``session.done`` when
    SAMPLE packets were seen or the packets are not one stream. Codecs of dynamic payload types
    come from ``session.vars["rtpmap"]`` when the flow's SDP was seen (RTSP interleaving)."""
    if session.count(key + ".seen") >= SAMPLE:
        session.done = True
    header = parse(data)
    if header is None:
        return None
    pt, seq, stamp, ssrc = header
    sampler: Sampler | None = session.vars.get(key)
    if sampler is None:
        sampler = session.vars[key] = Sampler(pt, ssrc, session.vars.get("rtpmap", {}))
    if ssrc != sampler.ssrc or not sampler.add(session.ts, seq, stamp, len(data)):
        if not sampler.confirmed:
            session.done = True  # not one stream
        return None
    if not sampler.confirmed:
        return None
    event = session.vars.get(key + ".event")
    new = event is None
    if new:
        event = session.vars[key + ".event"] = Event("stream", protocol="rtp")
    event.attrs.update(sampler.summary())
    return event if new else None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    # one stream per direction: two-way media (VoIP, a camera's talk-back audio) has an SSRC each way
    event = sample(pdu[2:] if session.transport == "tcp" else pdu, session, "rtp" if is_orig else "rtp.resp")
    if event is None:
        return []
    session.services.add("rtp")
    return [event]


PROTOCOL = Protocol("rtp", frozenset({"udp", "tcp"}), frozenset(), detect, decode, frame)
