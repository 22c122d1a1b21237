"""DHCPv4 / BOOTP (RFC 2131/2132): message type, client identity and the options that fingerprint it."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from sensor.decode import dns

MAGIC = b"\x63\x82\x53\x63"
MESSAGE_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
    8: "INFORM", 9: "FORCERENEW", 10: "LEASEQUERY", 11: "LEASEUNASSIGNED", 12: "LEASEUNKNOWN",
    13: "LEASEACTIVE", 14: "BULKLEASEQUERY", 15: "LEASEQUERYDONE", 16: "ACTIVELEASEQUERY",
    17: "LEASEQUERYSTATUS", 18: "TLS",
}
HOSTNAME, DOMAIN, REQUESTED_IP, LEASE_TIME, MSG_TYPE, SERVER_ID, PARAMS, MESSAGE, VENDOR_CLASS = (
    12, 15, 50, 51, 53, 54, 55, 56, 60,
)
FQDN = 81
ROUTER = 3


@dataclass(frozen=True, slots=True)
class Dhcp:
    op: int  # 1 request (client → server), 2 reply
    xid: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: str  # client MAC, "" unless Ethernet
    options: dict[int, bytes]

    @property
    def message_type(self) -> str:
        code = self.options.get(MSG_TYPE, b"")
        if len(code) != 1:
            return "BOOTREQUEST" if self.op == 1 else "BOOTREPLY"
        return MESSAGE_TYPES.get(code[0], str(code[0]))

    def text(self, option: int) -> str:
        return dns.clean_text(self.options.get(option, b"").rstrip(b"\x00"))

    def address(self, option: int) -> str:
        """The (first) IPv4 address an address option carries, or ""."""
        value = self.options.get(option, b"")
        return socket.inet_ntoa(value[:4]) if len(value) >= 4 and len(value) % 4 == 0 else ""

    @property
    def param_list(self) -> str:
        """Parameter request list as a fingerprint string, e.g. ``"1,3,6,15,119,252"``."""
        return ",".join(str(b) for b in self.options.get(PARAMS, b""))

    @property
    def lease_time(self) -> int | None:
        value = self.options.get(LEASE_TIME, b"")
        return struct.unpack("!I", value)[0] if len(value) == 4 else None

    @property
    def fqdn(self) -> str:
        """Client FQDN (RFC 4702): flags, two obsolete rcodes, then the name (wire format if E bit)."""
        value = self.options.get(FQDN, b"")
        if len(value) < 4:
            return ""
        if value[0] & 0x04:
            try:
                return dns.read_name(value + b"\x00", 3)[0]
            except (ValueError, IndexError):
                return ""
        return dns.clean_text(value[3:].rstrip(b"\x00"))


def _options(data: bytes) -> dict[int, bytes]:
    """Options after the magic cookie; a repeated option is concatenated (RFC 3396)."""
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        code = data[pos]
        if code == 255:
            break
        if code == 0:
            pos += 1
            continue
        length = data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError(f"DHCP option {code} truncated")
        options[code] = options.get(code, b"") + value
        pos += 2 + length
    return options


def parse(payload: bytes) -> Dhcp:
    op, htype, hlen = payload[0], payload[1], payload[2]
    if op not in (1, 2) or len(payload) < 240:
        raise ValueError("not a BOOTP message")
    xid = struct.unpack_from("!I", payload, 4)[0]
    ciaddr, yiaddr, siaddr, giaddr = (socket.inet_ntoa(payload[i : i + 4]) for i in (12, 16, 20, 24))
    chaddr = payload[28:34].hex(":") if htype == 1 and hlen == 6 else ""
    options = _options(payload[240:]) if payload[236:240] == MAGIC else {}
    return Dhcp(op, xid, ciaddr, yiaddr, siaddr, giaddr, chaddr, options)
