"""NetBIOS Name Service (RFC 1002, UDP 137): names registered, refreshed or answered for an address.

NBNS reuses the DNS message layout (``dns.parse``); names are "first-level encoded" (each byte as two
letters ``A``..``P``) and carry a 16th suffix byte saying what the name is (0x00 workstation, 0x20
file server, 0x1B/0x1C/0x1D/0x1E domain or workgroup roles). Node-status (NBSTAT) answers list all
names of a host plus its MAC address.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from sensor.decode import dns

NB, NBSTAT = 0x20, 0x21
OPCODES = {0: "QUERY", 5: "REGISTRATION", 6: "RELEASE", 7: "WACK", 8: "REFRESH", 9: "REFRESH"}


@dataclass(frozen=True, slots=True)
class Name:
    name: str  # without padding, e.g. "WORKSTATION1"
    suffix: int
    group: bool
    ip: str  # "" when the record carries no address (node status)


@dataclass(frozen=True, slots=True)
class Nbns:
    opcode: str
    is_response: bool
    rcode: int
    names: tuple[Name, ...]  # names claimed by (registration) or answered for (response) a host
    mac: str  # node-status unit id, "" otherwise


def decode_name(encoded: str) -> tuple[str, int]:
    """First-level decoding of the leftmost label: 32 letters → (15-char name stripped, suffix)."""
    label = encoded.split(".", 1)[0].upper()
    if len(label) != 32 or any(not "A" <= ch <= "P" for ch in label):
        raise ValueError("not a NetBIOS encoded name")
    raw = bytes(((ord(label[i]) - 65) << 4) | (ord(label[i + 1]) - 65) for i in range(0, 32, 2))
    return dns.clean_text(raw[:15].rstrip(b" \x00")), raw[15]


def _nb_addresses(record: dns.Record) -> list[Name]:
    name, suffix = decode_name(record.name)
    out = []
    for pos in range(0, len(record.rdata) - 5, 6):
        flags = struct.unpack_from("!H", record.rdata, pos)[0]
        ip = str(ipaddress.IPv4Address(record.rdata[pos + 2 : pos + 6]))
        out.append(Name(name, suffix, bool(flags & 0x8000), ip))
    return out


def _node_status(record: dns.Record) -> tuple[list[Name], str]:
    data = record.rdata
    count = data[0]
    names = []
    for i in range(count):
        entry = data[1 + 18 * i : 19 + 18 * i]
        if len(entry) != 18:
            raise ValueError("NBSTAT name table truncated")
        flags = struct.unpack_from("!H", entry, 16)[0]
        names.append(Name(dns.clean_text(entry[:15].rstrip(b" \x00")), entry[15], bool(flags & 0x8000), ""))
    unit = data[1 + 18 * count : 7 + 18 * count]
    mac = unit.hex(":") if len(unit) == 6 else ""
    return names, mac


def parse(payload: bytes) -> Nbns:
    msg = dns.parse(payload, decode_values=False)
    names: list[Name] = []
    mac = ""
    for record in msg.records():
        if record.rtype == NB:
            names += _nb_addresses(record)
        elif record.rtype == NBSTAT and msg.is_response:
            status_names, mac = _node_status(record)
            names += status_names
    return Nbns(OPCODES.get(msg.opcode, str(msg.opcode)), msg.is_response, msg.rcode, tuple(names), mac)
