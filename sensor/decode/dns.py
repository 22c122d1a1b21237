"""DNS message format (RFC 1035), shared by unicast DNS, mDNS (RFC 6762), LLMNR (RFC 4795) and NBNS.

``parse`` raises ValueError (or struct.error/IndexError) on malformed input; callers count and skip.
Name decompression is bounded: at most ``MAX_POINTERS`` jumps, each strictly backwards, and at most
255 bytes of name, so crafted pointer loops cannot spin.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass, field

MAX_POINTERS = 32
MAX_NAME = 255
MAX_RECORDS = 256  # per section; a 64 KiB datagram cannot hold more meaningful ones

A, NS, CNAME, PTR, TXT, AAAA, SRV = 1, 2, 5, 12, 16, 28, 33
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 64: "SVCB",
    65: "HTTPS", 99: "SPF", 251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
}
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}


def type_name(qtype: int) -> str:
    return TYPE_NAMES.get(qtype, str(qtype))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(raw: bytes, limit: int = MAX_NAME) -> str:
    """Network-supplied bytes → printable text: UTF-8 (invalid bytes replaced), no control chars."""
    return _CONTROL.sub("", raw[:limit].decode("utf-8", "replace")).strip()


def read_name(buf: bytes, offset: int) -> tuple[str, int]:
    """Decode the (possibly compressed) name at ``offset``; return it and the offset after it."""
    labels: list[str] = []
    size = 0
    end = -1  # offset after the name in the original position, fixed at the first pointer
    jumps = 0
    pos = offset
    while True:
        length = buf[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            if target >= pos or jumps >= MAX_POINTERS:
                raise ValueError("DNS name pointer loop or forward pointer")
            if end < 0:
                end = pos + 2
            jumps += 1
            pos = target
            continue
        if kind:
            raise ValueError(f"unsupported DNS label type {length:#x}")
        label = buf[pos + 1 : pos + 1 + length]
        if len(label) != length:
            raise ValueError("DNS label truncated")
        size += length + 1
        if size > MAX_NAME:
            raise ValueError("DNS name too long")
        labels.append(label.decode("utf-8", "replace").replace(".", "\\."))
        pos += 1 + length
    return ".".join(labels), (end if end >= 0 else pos)


@dataclass(slots=True)
class Question:
    name: str
    qtype: int
    qclass: int  # top bit is mDNS "unicast response wanted"


@dataclass(slots=True)
class Record:
    name: str
    rtype: int
    rclass: int  # top bit is mDNS "cache flush"
    ttl: int
    rdata: bytes
    value: str  # A/AAAA address text, PTR/CNAME/NS/SRV target name, TXT strings; else ""


@dataclass(slots=True)
class Message:
    id: int
    flags: int
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0x0F

    @property
    def rcode(self) -> int:
        return self.flags & 0x0F

    def records(self) -> list[Record]:
        return self.answers + self.authority + self.additional


def _value(buf: bytes, rtype: int, start: int, rdata: bytes) -> str:
    if rtype == A and len(rdata) == 4 or rtype == AAAA and len(rdata) == 16:
        return str(ipaddress.ip_address(rdata))
    if rtype in (PTR, CNAME, NS):
        return read_name(buf, start)[0]
    if rtype == SRV and len(rdata) > 6:
        return read_name(buf, start + 6)[0]
    if rtype == TXT:
        parts, pos = [], 0
        while pos < len(rdata):
            parts.append(clean_text(rdata[pos + 1 : pos + 1 + rdata[pos]]))
            pos += 1 + rdata[pos]
        return " ".join(p for p in parts if p)
    return ""


def _records(buf: bytes, pos: int, count: int, decode_values: bool) -> tuple[list[Record], int]:
    out = []
    for _ in range(count):
        name, pos = read_name(buf, pos)
        rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", buf, pos)
        pos += 10
        rdata = buf[pos : pos + rdlength]
        if len(rdata) != rdlength:
            raise ValueError("DNS record data truncated")
        value = _value(buf, rtype, pos, rdata) if decode_values else ""
        out.append(Record(name, rtype, rclass, ttl, rdata, value))
        pos += rdlength
    return out, pos


def parse(buf: bytes, decode_values: bool = True) -> Message:
    """Parse one DNS-format message. ``decode_values=False`` leaves ``Record.value`` empty (NBNS)."""
    ident, flags, qd, an, ns, ar = struct.unpack_from("!6H", buf, 0)
    if max(qd, an, ns, ar) > MAX_RECORDS:
        raise ValueError("implausible DNS record counts")
    msg = Message(ident, flags)
    pos = 12
    for _ in range(qd):
        name, pos = read_name(buf, pos)
        qtype, qclass = struct.unpack_from("!HH", buf, pos)
        pos += 4
        msg.questions.append(Question(name, qtype, qclass))
    msg.answers, pos = _records(buf, pos, an, decode_values)
    msg.authority, pos = _records(buf, pos, ns, decode_values)
    msg.additional, pos = _records(buf, pos, ar, decode_values)
    return msg


def is_query_like(buf: bytes) -> bool:
    """A DNS-format message with exactly one question: DNS, LLMNR and NBNS queries and most answers.
    Detectors of protocols with weak signatures (NTP, RTP) rule these out."""
    try:
        return buf[4:6] == b"\x00\x01" and len(parse(buf, decode_values=False).questions) == 1  # (QDCOUNT 1 first)
    except (ValueError, IndexError, struct.error):
        return False


def reverse_pointer_ip(name: str) -> str | None:
    """``"7.2.0.10.in-addr.arpa"`` → ``"10.0.2.7"`` (also ip6.arpa); None if not a reverse name."""
    lower = name.lower().rstrip(".")
    try:
        if lower.endswith(".in-addr.arpa"):
            parts = lower[: -len(".in-addr.arpa")].split(".")
            if len(parts) == 4:
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
        elif lower.endswith(".ip6.arpa"):
            nibbles = lower[: -len(".ip6.arpa")].split(".")
            if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
                return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
    except ValueError:
        return None
    return None
