"""SNMP GetRequest (v2c, or v1) of sysDescr.0, sysObjectID.0 and sysName.0 with the site's
configured read community; the community is never guessed and never logged."""

from __future__ import annotations

from sensor.active.exchange import Message, Probe

OIDS = (("1.3.6.1.2.1.1.1.0", "sysDescr.0"), ("1.3.6.1.2.1.1.2.0", "sysObjectID.0"),
        ("1.3.6.1.2.1.1.5.0", "sysName.0"))
GET_REQUEST = 0xA0
VERSIONS = {"1": 0, "2c": 1}
REQUEST_ID = 1


def tlv(tag: int, value: bytes) -> bytes:
    """A BER triple with a definite length."""
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + value


def oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def get_request(version: str, community: bytes) -> bytes:
    bindings = b"".join(tlv(0x30, oid(text) + b"\x05\x00") for text, _ in OIDS)
    pdu = tlv(GET_REQUEST, tlv(0x02, bytes([REQUEST_ID])) + b"\x02\x01\x00" * 2 + tlv(0x30, bindings))
    return tlv(0x30, tlv(0x02, bytes([VERSIONS[version]])) + tlv(0x04, community) + pdu)


def messages(target, settings) -> list[Message]:
    community = settings.snmp_community.encode()
    names = ", ".join(name for _, name in OIDS)
    return [Message(get_request(settings.snmp_version, community),
                    f"SNMP v{settings.snmp_version} GetRequest (request id {REQUEST_ID}) with the configured "
                    f"community ({len(community)} characters, masked as '*' in logs): {names}",
                    masked=get_request(settings.snmp_version, b"*" * len(community)))]


PROBE = Probe("snmp", "snmp_get_system", messages)
