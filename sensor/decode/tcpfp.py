"""Passive OS fingerprint of a TCP SYN, in the style of p0f: the initial TTL, window size and scale,
MSS and the order of the TCP options differ between operating systems' stacks.

It needs header fields, not payload, so it has no ``Protocol``: ``syn_fields`` reads them from the
IP header on (``sensor.meter.synprint`` calls it for one SYN per source address and interval) and
``guess`` names the OS family. ``signature`` is p0f's layout, ``ver:ittl:olayout:window,scale:df``, for
analysts who keep their own databases. The table below is ours: common stacks' default SYNs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

INITIAL_TTLS = (32, 64, 128, 255)
EOL, NOP, MSS, WS, SACK_OK, SACK, TIMESTAMPS = 0, 1, 2, 3, 4, 5, 8
OPTION_NAMES = {NOP: "nop", MSS: "mss", WS: "ws", SACK_OK: "sok", SACK: "sack", TIMESTAMPS: "ts"}
# (initial TTL, option layout, OS family) of stacks' default SYNs
STACKS = (
    (128, "mss,nop,ws,nop,nop,sok", "Windows"),
    (128, "mss,nop,nop,sok", "Windows"),
    (128, "mss,nop,ws,sok,ts", "Windows"),
    (64, "mss,sok,ts,nop,ws", "Linux"),
    (64, "mss,nop,nop,sok,nop,ws", "Linux"),
    (64, "mss,nop,nop,ts,nop,ws", "Linux"),
    (64, "mss,nop,ws,nop,nop,ts,sok,eol+1", "macOS/iOS"),
    (64, "mss,nop,ws,sok,ts", "FreeBSD"),
    (64, "mss,nop,nop,sok,nop,ws,nop,nop,ts", "OpenBSD"),
)


@dataclass(frozen=True)
class Syn:
    version: int  # 4 or 6
    ttl: int
    df: bool  # IPv4 don't-fragment (IPv6: always True)
    window: int
    options: bytes  # the TCP options as sent


def initial_ttl(ttl: int) -> int:
    """The hop limit the sender most likely started from."""
    return next((start for start in INITIAL_TTLS if ttl <= start), 255)


def syn_fields(packet: bytes) -> Syn:
    """The fingerprinted fields of a TCP segment from its IP header on (no IPv6 extension headers)."""
    version = packet[0] >> 4
    if version == 4:
        ihl, ttl, proto = (packet[0] & 0x0F) * 4, packet[8], packet[9]
        df = bool(struct.unpack_from(">H", packet, 6)[0] & 0x4000)
    elif version == 6:
        ihl, ttl, proto, df = 40, packet[7], packet[6], True
    else:
        raise ValueError("not an IP packet")
    if proto != 6:
        raise ValueError("not TCP")
    window = struct.unpack_from(">H", packet, ihl + 14)[0]
    data_offset = (packet[ihl + 12] >> 4) * 4
    if data_offset < 20 or ihl + data_offset > len(packet):
        raise ValueError("bad TCP header length")
    return Syn(version, ttl, df, window, packet[ihl + 20 : ihl + data_offset])


def options(raw: bytes) -> tuple[str, int, int]:
    """(p0f option layout, MSS, window scale) of a TCP options field; -1 when absent."""
    names, mss, scale, pos = [], -1, -1, 0
    while pos < len(raw):
        kind = raw[pos]
        if kind == EOL:
            names.append(f"eol+{len(raw) - pos - 1}")
            break
        if kind == NOP:
            names.append("nop")
            pos += 1
            continue
        length = raw[pos + 1] if pos + 1 < len(raw) else 0
        if length < 2 or pos + length > len(raw):
            raise ValueError("bad TCP option length")
        if kind == MSS and length == 4:
            mss = struct.unpack_from(">H", raw, pos + 2)[0]
        elif kind == WS and length == 3:
            scale = raw[pos + 2]
        names.append(OPTION_NAMES.get(kind, f"?{kind}"))
        pos += length
    return ",".join(names), mss, scale


def signature(syn: Syn) -> str:
    layout, mss, scale = options(syn.options)
    window = f"mss*{syn.window // mss}" if mss > 0 and syn.window % mss == 0 else str(syn.window)
    return f"{syn.version}:{initial_ttl(syn.ttl)}:{layout}:{window},{max(scale, 0)}:{'df' if syn.df else ''}"


def guess(syn: Syn) -> str:
    """The OS family whose default SYN this looks like, or "" when none does."""
    layout, _, _ = options(syn.options)
    ttl = initial_ttl(syn.ttl)
    return next((family for start, stack, family in STACKS if start == ttl and stack == layout), "")
