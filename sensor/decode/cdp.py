"""CDP (Cisco Discovery Protocol, IEEE 802.3 frames with LLC/SNAP OUI 00:00:0C, PID 0x2000): what a
Cisco switch, router or phone says about itself, and the asset facts that follow from it.

``parse`` takes the frame's payload after the 802.3 header (LLC/SNAP included), ``facts`` turns
it into (attribute, value) facts about the sender's MAC: its device id, platform, software, port,
capabilities and the role they imply, and addresses.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from sensor.decode import neighbors
from sensor.decode.dns import clean_text
from sensor.decode.spec import LinkProtocol

SNAP_HEADER = bytes.fromhex("aaaa0300000c2000")  # LLC DSAP/SSAP SNAP, UI, OUI Cisco, PID CDP
DEVICE_ID, ADDRESSES, PORT_ID, CAPABILITIES, SOFTWARE, PLATFORM = 1, 2, 3, 4, 5, 6
NLPID_IP = b"\xcc"
CAPABILITY_NAMES = ("router", "transparent_bridge", "source_route_bridge", "switch", "host", "igmp", "repeater",
                    "phone", "remote", "cvta", "mac_relay")
ROLES = (("router", "router"), ("phone", "phone"), ("switch", "switch"), ("transparent_bridge", "switch"))
MAX_TLVS = 64
MAX_ADDRESSES = 8


@dataclass
class Neighbor:
    device_id: str = ""
    port_id: str = ""
    platform: str = ""
    software: str = ""
    capabilities: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)


def _addresses(value: bytes) -> list[str]:
    (count,) = struct.unpack_from(">I", value)
    out, pos = [], 4
    for _ in range(min(count, MAX_ADDRESSES)):
        kind, length = value[pos], value[pos + 1]
        protocol = value[pos + 2 : pos + 2 + length]
        (size,) = struct.unpack_from(">H", value, pos + 2 + length)
        raw = value[pos + 4 + length : pos + 4 + length + size]
        if kind == 1 and protocol == NLPID_IP and len(raw) == 4:
            out.append(str(ipaddress.IPv4Address(raw)))
        pos += 4 + length + size
    return out


def parse(payload: bytes) -> Neighbor:
    if not payload.startswith(SNAP_HEADER):
        raise ValueError("not a CDP frame")
    neighbor, pos = Neighbor(), len(SNAP_HEADER) + 4  # version, TTL, checksum
    for _ in range(MAX_TLVS):
        if pos + 4 > len(payload):
            break
        kind, length = struct.unpack_from(">HH", payload, pos)
        if length < 4 or pos + length > len(payload):
            raise ValueError("CDP TLV truncated")
        value = payload[pos + 4 : pos + length]
        pos += length
        if kind == DEVICE_ID:
            neighbor.device_id = clean_text(value)
        elif kind == PORT_ID:
            neighbor.port_id = clean_text(value)
        elif kind == PLATFORM:
            neighbor.platform = clean_text(value)
        elif kind == SOFTWARE:  # several lines; the one with the version says most
            lines = value.splitlines() or [b""]
            neighbor.software = clean_text(next((line for line in lines if b"Version" in line), lines[0]))
        elif kind == CAPABILITIES:
            neighbor.capabilities = neighbors.capabilities(int.from_bytes(value[:4], "big"), CAPABILITY_NAMES)
        elif kind == ADDRESSES:
            neighbor.addresses = _addresses(value)
    return neighbor


def facts(neighbor: Neighbor) -> list[tuple[str, str]]:
    """(attribute, value) facts about the sender."""
    role = neighbors.role(neighbor.capabilities, ROLES)
    out = [("hostname", neighbor.device_id), ("model", neighbor.platform), ("os", neighbor.software),
           ("port", neighbor.port_id), ("capabilities", ",".join(neighbor.capabilities)), ("role", role),
           ("vendor", "Cisco" if neighbor.platform.lower().startswith("cisco") else "")]
    out += [("ip", address) for address in neighbor.addresses]
    return [(attribute, value) for attribute, value in out if value]


PROTOCOL = LinkProtocol("cdp", 0, neighbors.decoder("cdp", parse, facts), llc=SNAP_HEADER)
