"""DNS wire-format decoder: real responses, compression, bounded pointer loops, reverse names."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sensor.decode import dns

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def udp_payloads(rel: str, port: int) -> list[bytes]:
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"corpus file {rel} not available")
    return [bytes(p[UDP].payload) for p in rdpcap(str(path)) if UDP in p and port in (p[UDP].sport, p[UDP].dport)]


def test_real_response_with_compressed_answers():
    # zeek/Baseline/scripts.base.protocols.dns.flip/dns.log
    (payload,) = udp_payloads("zeek/Traces/dns53.pcap", 53)
    msg = dns.parse(payload)
    assert msg.id == 25701 and msg.is_response and msg.rcode == 0 and msg.opcode == 0
    assert [(q.name, q.qtype) for q in msg.questions] == [("us.v27.distributed.net", dns.A)]
    assert [r.value for r in msg.answers][:2] == ["206.109.64.186", "216.1.205.81"]
    assert {r.name for r in msg.answers} == {"us.v27.distributed.net"}
    assert {r.ttl for r in msg.answers} == {900}


def test_mdns_aaaa_and_a_records():
    records = [r for p in udp_payloads("zeek/Traces/dns/mdns.pcap", 5353) for r in dns.parse(p).records()]
    addresses = {r.value for r in records if r.rtype in (dns.A, dns.AAAA)}
    assert {"10.0.2.7", "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4"} <= addresses
    assert {r.name.lower() for r in records if r.rtype == dns.A} == {"johanna-qemu-virtual-machine.local"}


def build(question: bytes, answer: bytes = b"", flags: int = 0x8180) -> bytes:
    return struct.pack("!6H", 7, flags, 1, 1 if answer else 0, 0, 0) + question + answer


def test_ptr_srv_txt_values_and_pointer_targets():
    q = b"\x04_ipp\x04_tcp\x05local\x00" + struct.pack("!HH", dns.PTR, 1)
    instance = b"\x07Printer\xc0\x0c"  # "Printer" + pointer to the question name
    ptr = b"\xc0\x0c" + struct.pack("!HHIH", dns.PTR, 1, 120, len(instance)) + instance
    msg = dns.parse(build(q, ptr))
    assert msg.answers[0].value == "Printer._ipp._tcp.local"
    srv_data = struct.pack("!HHH", 0, 0, 631) + b"\x03prn\xc0\x16"  # target prn + pointer to "local"
    txt_data = b"\x05ty=HP\x00\x04rp=x"
    rest = (b"\xc0\x0c" + struct.pack("!HHIH", dns.SRV, 1, 1, len(srv_data)) + srv_data
            + b"\xc0\x0c" + struct.pack("!HHIH", dns.TXT, 1, 1, len(txt_data)) + txt_data)
    msg = dns.parse(struct.pack("!6H", 7, 0x8400, 1, 2, 0, 0) + q + rest)
    assert [r.value for r in msg.answers] == ["prn.local", "ty=HP rp=x"]


@pytest.mark.parametrize("name", [
    b"\xc0\x0c",  # points at itself
    b"\x01a\xc0\x0c",  # label then a pointer back to the label: a.a.a.a... forever
    b"\xc0\x20",  # forward pointer
    b"\x3fa",  # label longer than the data
    b"\x80a\x00",  # reserved label type
])
def test_malformed_names_raise_value_error(name):
    with pytest.raises((ValueError, IndexError, struct.error)):
        dns.parse(build(name + struct.pack("!HH", 1, 1)))


def test_names_are_bounded_in_length():
    long_name = b"".join(b"\x3f" + b"x" * 63 for _ in range(5)) + b"\x00"  # 320 bytes
    with pytest.raises(ValueError, match="too long"):
        dns.read_name(long_name, 0)


def test_implausible_counts_rejected_without_work():
    with pytest.raises(ValueError):
        dns.parse(struct.pack("!6H", 1, 0, 65535, 0, 0, 0))


def test_reverse_pointer_names():
    assert dns.reverse_pointer_ip("7.2.0.10.in-addr.arpa") == "10.0.2.7"
    v6 = ".".join(reversed("20010db8000000000000000000000001")) + ".ip6.arpa"
    assert dns.reverse_pointer_ip(v6) == "2001:db8::1"
    assert dns.reverse_pointer_ip("300.2.0.10.in-addr.arpa") is None
    assert dns.reverse_pointer_ip("example.com") is None


def test_clean_text_strips_control_characters():
    assert dns.clean_text(b"host\x00\x1b[31mname\xff ") == "host[31mname\ufffd"
