"""Header decoding from bytes: link types, VLAN/QinQ, IPv6 extension headers, truncation, fuzz."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NS,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, LLC, Dot1AD, Dot1Q, Dot3, Ether

from sensor.capture.pcapfile import Frames
from sensor.decode import packet as pk

SRC, DST = "02:00:00:00:00:01", "02:00:00:00:00:02"
TCP4 = IP(src="10.0.0.1", dst="10.0.0.2", id=7) / TCP(sport=1234, dport=502, flags="PA", seq=100, ack=200,
                                                      window=0) / b"hello"


def decode(*frames: bytes, linktype: int = 1, wirelen: list[int] | None = None) -> pk.Packets:
    """Decode raw frames laid out back to back in one buffer."""
    buf = np.frombuffer(b"".join(frames), np.uint8)
    lens = np.array([len(f) for f in frames], np.int32)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = len(frames)
    wire = np.array(wirelen, np.int32) if wirelen else lens.copy()
    return pk.decode(Frames(buf, np.arange(n, dtype=np.int64), offs, lens, wire, np.full(n, linktype, np.int32)))


def assert_tcp4(p: pk.Packets, i: int = 0) -> None:
    assert p.status[i] == pk.OK
    assert (p.ipver[i], p.proto[i], p.src_lo[i], p.dst_lo[i]) == (4, 6, 0x0A000001, 0x0A000002)
    assert (p.sport[i], p.dport[i], p.seq[i], p.ack[i], p.tcp_flags[i]) == (1234, 502, 100, 200, 0x18)
    assert (p.ip_len[i], p.pay_len[i], p.ip_id[i], p.win[i]) == (45, 5, 7, 0)


def _sll(payload: bytes, proto: int) -> bytes:
    return struct.pack(">HHH8sH", 0, 1, 6, bytes.fromhex("020000000001") + b"\0\0", proto) + payload


def _sll2(payload: bytes, proto: int) -> bytes:
    return struct.pack(">HHIHBB8s", proto, 0, 3, 1, 0, 6, bytes.fromhex("020000000001") + b"\0\0") + payload


@pytest.mark.parametrize(
    "frame,linktype,vlan",
    [
        (bytes(Ether(src=SRC, dst=DST) / TCP4), 1, 0),
        (bytes(Ether(src=SRC, dst=DST) / Dot1Q(vlan=42) / TCP4), 1, 42),
        (bytes(Ether(src=SRC, dst=DST) / Dot1AD(vlan=100) / Dot1Q(vlan=42) / TCP4), 1, 100),  # QinQ: outer tag
        (bytes(Ether(src=SRC, dst=DST, type=0x9100) / Dot1Q(vlan=7) / TCP4), 1, 7),
        (_sll(bytes(TCP4), 0x0800), 113, 0),
        (_sll2(bytes(TCP4), 0x0800), 276, 0),
        (bytes(TCP4), 101, 0),
        (bytes(TCP4), 12, 0),
        (bytes(TCP4), 14, 0),
        (bytes(TCP4), 228, 0),
        (struct.pack("<I", 2) + bytes(TCP4), 0, 0),  # BSD NULL, host byte order
        (struct.pack(">I", 2) + bytes(TCP4), 108, 0),  # OpenBSD LOOP, network byte order
    ],
)
def test_link_types(frame, linktype, vlan):
    p = decode(frame, linktype=linktype)
    assert_tcp4(p)
    assert p.vlan[0] == vlan
    if linktype in (1, 113, 276):
        assert p.src_mac[0] == 0x020000000001


@pytest.mark.parametrize("linktype,head", [(229, b""), (0, struct.pack("<I", 30)), (0, struct.pack("<I", 24)),
                                           (0, struct.pack("<I", 10)), (101, b"")])
def test_ipv6_link_types(linktype, head):
    frame = head + bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5353, dport=53) / b"q")
    p = decode(frame, linktype=linktype)
    assert p.status[0] == pk.OK and p.ipver[0] == 6
    assert (p.src_hi[0], p.src_lo[0], p.dst_lo[0]) == (0x20010DB800000000, 1, 2)
    assert (p.sport[0], p.dport[0], p.pay_len[0]) == (5353, 53, 1)


def test_ipv6_extension_header_chain():
    pkt = (IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt()
           / TCP(sport=80, dport=4000, flags="S") / b"xy")
    p = decode(bytes(Ether(src=SRC, dst=DST) / pkt))
    assert p.status[0] == pk.OK and p.proto[0] == 6
    assert (p.sport[0], p.dport[0], p.pay_len[0]) == (80, 4000, 2)
    assert p.ip_len[0] == len(pkt)


def test_ip_fragments_first_and_later():
    v4 = IP(src="10.0.0.1", dst="10.0.0.2", id=99) / UDP(sport=1, dport=2) / (b"z" * 40)
    first, later = (bytes(Ether(src=SRC, dst=DST) / f) for f in v4.fragment(24))
    v6 = IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=5, m=1, offset=0) / UDP(sport=3, dport=4) / b"a"
    v6_later = IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=5, offset=2, nh=17) / (b"b" * 8)
    p = decode(first, later, bytes(Ether(src=SRC, dst=DST) / v6), bytes(Ether(src=SRC, dst=DST) / v6_later))
    assert (p.status == pk.OK).all()
    assert p.frag.tolist() == [pk.FRAG_FIRST, pk.FRAG_LATER, pk.FRAG_FIRST, pk.FRAG_LATER]
    assert p.ip_id.tolist() == [99, 99, 5, 5]
    assert (p.sport[0], p.sport[2]) == (1, 3) and (p.sport[1], p.sport[3]) == (0, 0)


def test_icmp_ports_are_type_and_counterpart():
    req = bytes(Ether(src=SRC, dst=DST) / IP(src="1.1.1.1", dst="2.2.2.2") / ICMP(type=8))
    rep = bytes(Ether(src=SRC, dst=DST) / IP(src="2.2.2.2", dst="1.1.1.1") / ICMP(type=0))
    unreach = bytes(Ether(src=SRC, dst=DST) / IP(src="2.2.2.2", dst="1.1.1.1") / ICMP(type=3, code=3))
    ns = bytes(Ether(src=SRC, dst=DST) / IPv6(src="::", dst="ff02::1:ff00:1") / ICMPv6ND_NS(tgt="fe80::1"))
    p = decode(req, rep, unreach, ns)
    assert list(zip(p.sport.tolist(), p.dport.tolist())) == [(8, 0), (0, 8), (3, 3), (135, 136)]
    assert p.proto.tolist() == [1, 1, 1, 58]


def test_non_ip_frames():
    arp = bytes(Ether(src=SRC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.1", pdst="10.0.0.2"))
    llc = bytes(Dot3(src=SRC, dst="01:80:c2:00:00:00") / LLC() / (b"\0" * 30))
    goose = bytes(Ether(src=SRC, dst="01:0c:cd:01:00:01", type=0x88B8) / (b"\0" * 40))
    p = decode(arp, llc, goose)
    assert (p.status == pk.NON_IP).all()
    assert p.ethertype.tolist() == [0x0806, 0, 0x88B8]
    assert p.pay_off[0] == 14 and p.pay_len[0] == len(arp) - 14


@pytest.mark.parametrize("cut", [5, 13, 20, 33, 40, 50])
def test_truncated_headers_are_malformed(cut):
    """Cut inside the Ethernet, IPv4 or TCP header (TCP header ends at byte 54)."""
    p = decode(bytes(Ether(src=SRC, dst=DST) / TCP4)[:cut])
    assert p.status[0] == pk.MALFORMED


def test_snaplen_cut_payload_is_fine_but_short_wire_length_is_not():
    frame = bytes(Ether(src=SRC, dst=DST) / TCP4)
    p = decode(frame[:56], frame[:56], wirelen=[len(frame), 50])
    assert p.status.tolist() == [pk.OK, pk.MALFORMED]
    assert p.pay_len[0] == 5


def test_unknown_link_type_is_malformed():
    assert decode(bytes(TCP4), linktype=147).status[0] == pk.MALFORMED


SAMPLES = [
    (bytes(Ether(src=SRC, dst=DST) / Dot1Q(vlan=3) / TCP4), 1),
    (bytes(Ether(src=SRC, dst=DST) / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(m=1) / UDP() / b"x"), 1),
    (_sll(bytes(IPv6() / TCP()), 0x86DD), 113),
    (_sll2(bytes(TCP4), 0x0800), 276),
    (struct.pack("<I", 2) + bytes(TCP4), 0),
    (bytes(TCP4), 101),
    (b"\xff\x03\x00\x21" + bytes(TCP4), 9),
    (bytes(Ether(src=SRC, dst=DST, type=0x8864)) + bytes.fromhex("110000050033") + b"\x00\x21" + bytes(TCP4), 1),
    (bytes(Ether(src=SRC, dst=DST, type=0x8847)) + bytes.fromhex("00010140") + bytes(TCP4), 1),
    (struct.pack(">BBH", 2, 0, 0) + struct.pack("<HH", 4 + len(TCP4), 9) + bytes(TCP4), 239),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=8),
       st.integers(0, 200), st.binary(max_size=120), st.sampled_from([0, 1, 9, 12, 50, 51, 101, 104, 108, 113, 228, 229, 239, 276]))
def test_fuzz_never_raises(sample, flips, cut, noise, linktype):
    frame, lt = sample
    mutated = bytearray(frame[: max(cut, 1)])
    for pos, value in flips:
        if pos < len(mutated):
            mutated[pos] = value
    p = decode(bytes(mutated), noise or b"\0", linktype=lt if noise else linktype)
    assert set(p.status.tolist()) <= {pk.OK, pk.NON_IP, pk.MALFORMED}
    assert ((p.error != pk.ERR_NONE) == (p.status == pk.MALFORMED)).all()  # a reason for every malformed frame
    ends = np.array([len(mutated), len(mutated) + max(len(noise), 1)])
    ok = p.status != pk.MALFORMED
    assert (p.pay_off[ok] <= ends[ok]).all()
