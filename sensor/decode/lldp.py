"""LLDP (IEEE 802.1AB, EtherType 0x88CC): what a switch, phone, camera or PLC says about itself
to its link neighbour, and the asset facts that follow from it.

``parse`` takes the frame's payload after the Ethernet header, ``facts`` turns the result into
(attribute, value) facts about the sender's MAC: its system name, description, port, enabled
capabilities and the role they imply, management addresses and LLDP-MED inventory.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from sensor.decode import neighbors
from sensor.decode.dns import clean_text
from sensor.decode.spec import LinkProtocol

ETHERTYPE = 0x88CC
END, CHASSIS_ID, PORT_ID, TTL, PORT_DESCRIPTION, SYSTEM_NAME, SYSTEM_DESCRIPTION, CAPABILITIES, MANAGEMENT = range(9)
ORGANIZATIONAL = 127
MED_OUI, MED_INVENTORY = b"\x00\x12\xbb", {5: "hardware", 6: "firmware", 7: "software", 8: "serial",
                                            9: "vendor", 10: "model"}
CAPABILITY_NAMES = ("other", "repeater", "bridge", "wlan_access_point", "router", "telephone", "docsis", "station",
                    "c_vlan", "s_vlan", "tpmr")
# enabled capability → device role, most specific first
ROLES = (("router", "router"), ("telephone", "phone"), ("wlan_access_point", "access_point"), ("bridge", "switch"))
MAX_TLVS = 64


@dataclass
class Neighbor:
    chassis_id: str = ""
    port_id: str = ""
    port_description: str = ""
    system_name: str = ""
    system_description: str = ""
    capabilities: list[str] = field(default_factory=list)  # enabled ones
    management_addresses: list[str] = field(default_factory=list)
    inventory: dict[str, str] = field(default_factory=dict)  # LLDP-MED: vendor, model, firmware, serial …


def _id(value: bytes) -> str:
    """A chassis or port id: subtype byte, then a MAC (subtype 4/3), an address, or text."""
    subtype, raw = value[0], value[1:]
    if len(raw) == 6 and subtype in (3, 4):
        return ":".join(f"{b:02x}" for b in raw)
    return clean_text(raw)


def _address(value: bytes) -> str:
    length, family = value[0], value[1]
    raw = value[2 : 1 + length]
    if family == 1 and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    if family == 2 and len(raw) == 16:
        return str(ipaddress.IPv6Address(raw))
    return ""


def parse(payload: bytes) -> Neighbor:
    neighbor, pos = Neighbor(), 0
    for _ in range(MAX_TLVS):
        header = int.from_bytes(payload[pos : pos + 2], "big")
        kind, length = header >> 9, header & 0x1FF
        value = payload[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError("LLDP TLV truncated")
        pos += 2 + length
        if kind == END:
            break
        if kind == CHASSIS_ID:
            neighbor.chassis_id = _id(value)
        elif kind == PORT_ID:
            neighbor.port_id = _id(value)
        elif kind == PORT_DESCRIPTION:
            neighbor.port_description = clean_text(value)
        elif kind == SYSTEM_NAME:
            neighbor.system_name = clean_text(value)
        elif kind == SYSTEM_DESCRIPTION:
            neighbor.system_description = clean_text(value)
        elif kind == CAPABILITIES:
            neighbor.capabilities = neighbors.capabilities(int.from_bytes(value[2:4], "big"), CAPABILITY_NAMES)
        elif kind == MANAGEMENT:
            address = _address(value)
            if address not in ("", "0.0.0.0", "::"):  # unset
                neighbor.management_addresses.append(address)
        elif kind == ORGANIZATIONAL and value[:3] == MED_OUI and value[3] in MED_INVENTORY:
            neighbor.inventory[MED_INVENTORY[value[3]]] = clean_text(value[4:])
    if not neighbor.chassis_id:
        raise ValueError("LLDP frame without a chassis id")
    return neighbor


def facts(neighbor: Neighbor) -> list[tuple[str, str]]:
    """(attribute, value) facts about the sender."""
    out = [("hostname", neighbor.system_name), ("description", neighbor.system_description),
           ("port", neighbor.port_description or neighbor.port_id), ("capabilities", ",".join(neighbor.capabilities)),
           ("role", neighbors.role(neighbor.capabilities, ROLES))]
    out += [("ip", address) for address in neighbor.management_addresses]
    out += [(key, value) for key, value in neighbor.inventory.items() if key in ("vendor", "model", "firmware", "serial")]
    return [(attribute, value) for attribute, value in out if value]


PROTOCOL = LinkProtocol("lldp", ETHERTYPE, neighbors.decoder("lldp", parse, facts))
