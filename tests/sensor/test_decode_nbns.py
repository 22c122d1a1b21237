"""NBNS decoder: registrations from real captures, name encoding, node-status answers."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sensor.decode import nbns

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def encode(name: str, suffix: int) -> bytes:
    raw = name.encode().ljust(15) + bytes([suffix])
    return b"\x20" + bytes(ch for b in raw for ch in (65 + (b >> 4), 65 + (b & 15))) + b"\x00"


def test_registration_from_capture():
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    path = CORPUS / "nttcom/CIFS-NBNS-COM/Traces/test.pcap"
    if not path.exists():
        pytest.skip("corpus not available")
    msgs = [nbns.parse(bytes(p[UDP].payload)) for p in rdpcap(str(path)) if UDP in p]
    assert {m.opcode for m in msgs} <= {"REGISTRATION", "REFRESH", "QUERY"}
    names = {(n.name, n.suffix, n.group, n.ip) for m in msgs for n in m.names}
    assert ("MACBOOKAIR-4351", 0x00, False, "192.168.1.215") in names
    assert ("WORKGROUP", 0x00, True, "192.168.1.215") in names


def test_decode_name():
    assert nbns.decode_name("FEEFFDFEEMEJEOEHCACACACACACACAAA") == ("TESTLING", 0x00)
    assert nbns.decode_name(encode("PLC-01", 0x20)[1:33].decode()) == ("PLC-01", 0x20)
    with pytest.raises(ValueError):
        nbns.decode_name("NOTNETBIOS")


def test_node_status_response_lists_names_and_mac():
    table = (b"HMI-02".ljust(15) + b"\x00" + struct.pack("!H", 0x0400)
             + b"PLANT".ljust(15) + b"\x00" + struct.pack("!H", 0x8400))
    rdata = b"\x02" + table + bytes.fromhex("00000000bc01") + bytes(40)
    answer = encode("*", 0) + struct.pack("!HHIH", nbns.NBSTAT, 1, 0, len(rdata)) + rdata
    msg = nbns.parse(struct.pack("!6H", 1, 0x8400, 0, 1, 0, 0) + answer)
    assert msg.is_response and msg.opcode == "QUERY" and msg.mac == "00:00:00:00:bc:01"
    assert [(n.name, n.group) for n in msg.names] == [("HMI-02", False), ("PLANT", True)]
