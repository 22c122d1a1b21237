"""DHCPv4 decoder: real message sequence (Zeek baseline), options, FQDN encodings."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sensor.decode import dhcp

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def bootp(options: bytes, op: int = 1) -> bytes:
    head = struct.pack("!BBBBIHH", op, 1, 6, 0, 0x1234, 0, 0) + bytes(16)
    return head + bytes.fromhex("001b1b000001") + bytes(10 + 192) + dhcp.MAGIC + options + b"\xff"


def test_message_sequence_matches_zeek():
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    path = CORPUS / "zeek/Traces/dhcp/dhcp.pcap"
    if not path.exists():
        pytest.skip("corpus not available")
    msgs = [dhcp.parse(bytes(p[UDP].payload)) for p in rdpcap(str(path)) if UDP in p]
    # msg_types column of zeek/Baseline/scripts.base.protocols.dhcp.dhcp-all-msg-types/dhcp.log
    assert [m.message_type for m in msgs] == [
        "DISCOVER", "OFFER", "REQUEST", "NAK", "REQUEST", "ACK", "DECLINE", "RELEASE", "INFORM"]
    ack = msgs[5]
    assert (ack.chaddr, ack.yiaddr, ack.lease_time) == ("90:b1:1c:99:49:29", "128.2.6.189", 900)
    assert ack.text(dhcp.DOMAIN) == "cmu.edu" and ack.address(dhcp.SERVER_ID) == "128.2.6.152"
    assert msgs[0].text(dhcp.HOSTNAME) == "btest.is.cool"


def test_options_fingerprint_and_vendor_class():
    msg = dhcp.parse(bootp(b"\x35\x01\x03\x0c\x05plc01\x00\x3c\x08MSFT 5.0\x37\x04\x01\x03\x06\x0f"
                           b"\x32\x04\x0a\x00\x00\x07"))
    assert msg.message_type == "REQUEST" and msg.chaddr == "00:1b:1b:00:00:01"
    assert msg.text(dhcp.HOSTNAME) == "plc01"
    assert msg.text(dhcp.VENDOR_CLASS) == "MSFT 5.0"
    assert msg.param_list == "1,3,6,15"
    assert msg.address(dhcp.REQUESTED_IP) == "10.0.0.7"


def test_fqdn_ascii_and_wire_encoded():
    assert dhcp.parse(bootp(b"\x51\x0d\x00\x00\x00hmi1.plant")).fqdn == "hmi1.plant"
    wire_name = b"\x04hmi1\x05plant\x00"
    option = b"\x51" + bytes([3 + len(wire_name)]) + b"\x04\x00\x00" + wire_name
    assert dhcp.parse(bootp(option)).fqdn == "hmi1.plant"


def test_split_option_is_concatenated_and_bootp_without_options():
    assert dhcp.parse(bootp(b"\x0c\x03plc\x0c\x02-1")).text(dhcp.HOSTNAME) == "plc-1"
    plain = bootp(b"", op=2)[:236] + bytes(64)  # no magic cookie: BOOTP
    assert dhcp.parse(plain).message_type == "BOOTREPLY"


def test_truncated_option_raises():
    with pytest.raises(ValueError):
        dhcp.parse(bootp(b"\x0c\x20short")[:-1])
