"""ARP over Ethernet for IPv4 (RFC 826): who-has / is-at, with the sender's MAC/IP binding."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

REQUEST, REPLY = 1, 2


@dataclass(frozen=True, slots=True)
class Arp:
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


def parse(payload: bytes) -> Arp | None:
    """Decode an ARP packet; None for other hardware/protocol types (not an error)."""
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", payload, 0)
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        return None
    if len(payload) < 28:
        raise ValueError("ARP packet truncated")
    return Arp(
        op,
        payload[8:14].hex(":"),
        socket.inet_ntoa(payload[14:18]),
        payload[18:24].hex(":"),
        socket.inet_ntoa(payload[24:28]),
    )
