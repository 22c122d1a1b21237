"""Tunnels and link encapsulations are opened down to IP (not left as non-IP flows): PPP bare, in
HDLC framing and with a compressed protocol field, Cisco HDLC, PPPoE sessions, MPLS label stacks,
VLAN tags of any depth, NFLOG records; each through the real reader and pipeline."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import HDLC, PPP, PPPoE

from sensor.meter import pipeline

T0 = 1_700_000_000_000_000
PAYLOAD = b"p" * 33
UDP4 = IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=1111, dport=2222) / PAYLOAD
UDP6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1111, dport=2222) / PAYLOAD
ETH = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
LT_ETHERNET, LT_PPP, LT_PPP_HDLC, LT_PPP_ETHER, LT_C_HDLC, LT_NFLOG = 1, 9, 50, 51, 104, 239


def nflog(family: int, packet: bytes) -> bytes:
    """An NFLOG record (libpcap's nflog.h: header in network order, TLVs in the host's, here
    little-endian): a hardware-protocol TLV, a prefix TLV padded to 4 bytes, then the payload TLV."""
    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("<HH", 4 + len(value), kind) + value + b"\0" * (-len(value) % 4)

    return struct.pack(">BBH", family, 0, 7) + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"drop\0") + tlv(9, packet)


def flows_of(make_pcap, frame: bytes, linktype: int) -> tuple[list[dict], pipeline.Stats]:
    stats = pipeline.Stats()
    path = make_pcap([(T0, frame), (T0 + 1000, frame)], linktype=linktype)
    flows: dict[str, dict] = {}  # by uid, the interval records' counts summed
    for iv in pipeline.iter_intervals([path], 60.0, stats=stats):
        for record in iv.flow_records():
            seen = flows.setdefault(record["uid"], record)
            if seen is not record:
                for name in ("orig_pkts", "orig_bytes", "orig_ip_bytes", "resp_pkts"):
                    seen[name] += record[name]
    assert stats.balanced and stats.read == 2
    return list(flows.values()), stats


CASES = {
    "ppp in hdlc framing": (bytes(HDLC() / PPP() / UDP4), LT_PPP, 0),
    "bare ppp": (bytes(PPP() / UDP4), LT_PPP, 0),
    "ppp, compressed protocol": (b"\x21" + bytes(UDP4), LT_PPP, 0),
    "ppp (dlt 50)": (bytes(HDLC() / PPP() / UDP4), LT_PPP_HDLC, 0),
    "cisco hdlc (dlt 50)": (b"\x0f\x00\x08\x00" + bytes(UDP4), LT_PPP_HDLC, 0),
    "cisco hdlc (dlt 104)": (b"\x8f\x00\x08\x00" + bytes(UDP4), LT_C_HDLC, 0),
    "pppoe session": (bytes(Ether(**ETH) / PPPoE(sessionid=5) / PPP() / UDP4), LT_ETHERNET, 0),
    "pppoe in a vlan": (bytes(Ether(**ETH) / Dot1Q(vlan=7) / PPPoE(sessionid=5) / PPP() / UDP4), LT_ETHERNET, 7),
    "pppoe without ethernet (dlt 51)": (bytes(PPPoE(sessionid=5) / PPP() / UDP4), LT_PPP_ETHER, 0),
    "mpls stack": (bytes(Ether(**ETH) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / UDP4), LT_ETHERNET, 0),
    "mpls over ppp": (bytes(PPP(proto=0x0281) / MPLS(label=16, s=1) / UDP4), LT_PPP, 0),
    "mpls in a vlan": (bytes(Ether(**ETH) / Dot1Q(vlan=9) / MPLS(label=3, s=1) / UDP4), LT_ETHERNET, 9),
    "three vlan tags": (bytes(Ether(**ETH) / Dot1AD(vlan=100) / Dot1Q(vlan=200, type=0x9100)
                              / Dot1Q(vlan=300) / UDP4), LT_ETHERNET, 100),
    "nflog": (nflog(2, bytes(UDP4)), LT_NFLOG, 0),
}


@pytest.mark.parametrize("frame,linktype,vlan", CASES.values(), ids=CASES.keys())
def test_ipv4_inside(make_pcap, frame, linktype, vlan):
    [flow], stats = flows_of(make_pcap, frame, linktype)
    assert stats.decoded == 2 and not stats.errors
    assert (flow["proto"], flow["orig_h"], flow["orig_p"], flow["resp_h"], flow["resp_p"], flow["vlan"]) == (
        "udp", "10.1.1.1", 1111, "10.2.2.2", 2222, vlan)
    assert (flow["orig_pkts"], flow["orig_bytes"], flow["orig_ip_bytes"], flow["resp_pkts"]) == (2, 66, 2 * 61, 0)


CASES6 = {
    "ppp": (bytes(PPP() / UDP6), LT_PPP),
    "pppoe": (bytes(Ether(**ETH) / PPPoE(sessionid=1) / PPP() / UDP6), LT_ETHERNET),
    "mpls": (bytes(Ether(**ETH) / MPLS(label=16, s=1) / UDP6), LT_ETHERNET),
    "nflog": (nflog(10, bytes(UDP6)), LT_NFLOG),
}


@pytest.mark.parametrize("frame,linktype", CASES6.values(), ids=CASES6.keys())
def test_ipv6_inside(make_pcap, frame, linktype):
    [flow], _ = flows_of(make_pcap, frame, linktype)
    assert (flow["orig_h"], flow["resp_h"], flow["resp_p"], flow["orig_bytes"], flow["orig_ip_bytes"]) == (
        "2001:db8::1", "2001:db8::2", 2222, 66, 2 * 81)


def test_non_ip_payloads_stay_non_ip_flows(make_pcap):
    """PPP link control and an MPLS pseudowire carry no IP: non-IP flows of PPP's and MPLS's EtherType."""
    for frame, linktype, ethertype in [(bytes(PPP(proto=0xC021) / (b"\x01" * 10)), LT_PPP, 0x880B),
                                       (bytes(Ether(**ETH) / MPLS(label=16, s=1) / (b"\0" * 30)), LT_ETHERNET, 0x8847)]:
        [flow], stats = flows_of(make_pcap, frame, linktype)
        assert (flow["proto"], flow["ethertype"], stats.decoded) == ("l2", ethertype, 2)


@pytest.mark.parametrize("frame,linktype", [
    (bytes(Ether(**ETH) / PPPoE(sessionid=5))[:17], LT_ETHERNET),  # session header cut short
    (bytes(Ether(**ETH) / MPLS(label=16, s=0) / MPLS(label=17, s=0)), LT_ETHERNET),  # no bottom of stack
    (bytes(Ether(**ETH) / Dot1Q(vlan=1) / Dot1Q(vlan=2))[:20], LT_ETHERNET),  # cut inside a tag
    (struct.pack(">BBH", 2, 0, 0) + struct.pack("<HH", 8, 1) + b"\0" * 4, LT_NFLOG),  # no payload TLV
    (struct.pack(">BBH", 2, 0, 0) + struct.pack("<HH", 2, 9), LT_NFLOG),  # a TLV shorter than its header
    (b"\xff\x03", LT_PPP),
    (b"\x42\x00\x08\x00" + bytes(UDP4), LT_C_HDLC),  # not a Cisco HDLC address
])
def test_damaged_encapsulations_are_link_errors(make_pcap, frame, linktype):
    flows, stats = flows_of(make_pcap, frame, linktype)
    assert flows == [] and stats.errors == {"link": 2}
