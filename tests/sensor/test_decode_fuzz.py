"""Fuzzing every application and link-layer decoder: real and spec-built PDUs decode into events and
facts of the expected types, random bytes and mutated real PDUs never raise anything but the
malformed-input errors the stages count nor yield anything else, and whole captures with damaged
payloads never stop the pipeline."""

from __future__ import annotations

import dataclasses
import functools
import re
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.decode import registry, spec
from sensor.decode.spec import MALFORMED, Event, Fact, Session
from sensor.decode.stream import Stream
from sensor.meter.pipeline import iter_intervals

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
# (trace, port) per protocol whose payloads seed the mutations
SEED_TRACES = {
    "modbus": [("icsnpp/modbus/traces/modbus_example.pcap", 502)],
    "s7comm": [("icsnpp/s7comm/traces/snap7.pcap", 102), ("ndpi/s7comm-plus.pcap", 102),
               ("ndpi/iso9506-1-mms.pcap", 102), ("iti/IEC61850/Sample_File_MMS_and_GOOSE.pcap", 102)],  # and MMS
    "enip": [("icsnpp/enip/traces/enip_cip_example.pcap", 44818), ("icsnpp/enip/traces/enip_cip_example.pcap", 2222)],
    "bacnet": [("icsnpp/bacnet/traces/bacnet_services.pcap", 47808),
               ("icsnpp/bacnet/traces/bacnet_error_reject_abort.pcap", 47808)],
    "dnp3": [("icsnpp/dnp3/traces/dnp3_example.pcap", 20000), ("zeek/Traces/dnp3/dnp3.pcap", 20000)],
    "iec104": [("iti/IEC60870-5-104/090813_diverse.pcap", 2404)],
    "omron_fins": [("icsnpp/omron-fins/traces/omron.pcap", 9600), ("icsnpp/omron-fins/traces/omron_test.pcap", 9600)],
    "opcua": [("icsnpp/opcua-binary/traces/open62541_client-server_mainloop.pcap", 4840)],
    "hart_ip": [("icsnpp/hart-ip/traces/hart-ip.pcap", 5094),
                ("icsnpp/hart-ip/traces/hart-ip_all_types_and_commands_sent.pcapng", 5094)],
    "slmp": [("nttcom/CCLinkFieldBasic/Traces/cclink_ief_basic_only.pcap", 61450)],  # 3E frames of CC-Link IE Basic
    "ssl": [("zeek/Traces/tls/tls-conn-with-extensions.pcap", 443), ("zeek/Traces/tls/tls1.2.pcap", 443)],
    "ssh": [("zeek/Traces/ssh/ssh_kex_curve25519.pcap", 22)],
    "smb": [("zeek/Traces/smb/smb1.pcap", 445), ("ndpi/netbios.pcap", 138), ("ndpi/netbios.pcap", 139)],
    "netbios-ns": [("ndpi/netbios.pcap", 137), ("nttcom/CIFS-NBNS-COM/Traces/test.pcap", 137)],
    "snmp": [("ndpi/snmp.pcap", 161), ("ndpi/snmp.pcap", 162), ("zeek/Traces/snmp/snmpv1_get.pcap", 161)],
    "ntp": [("zeek/Traces/ntp/ntp.pcap", 123)],
    "rtcp": [],  # the corpus has no RTCP
    "rtsp": [("camera/rtspstreampcapparser/rtsp.pcap", 554), ("camera/ndpi/rtsp.pcap", 8554)],
    "ssdp": [("nttcom/SSDP-COM/Traces/test.pcap", 1900)],
    "ws-discovery": [("camera/ndpi/upnp.pcap", 3702)],
    "ftp": [("zeek/Traces/ftp/ipv4.pcap", 21)],
    "http": [("zeek/Traces/http/get.pcap", 80), ("zeek/Traces/http/multipart.pcap", 80)],
    "telnet": [("zeek/Traces/telnet-auth-missing-name.pcap", 21)],
    "rdp": [], "vnc": [], "teamviewer": [],  # the corpus holds no such session on a port of its own
    "pop3": [], "imap": [], "smtp": [],  # nor any mail
    "rtp": [("camera/ndpi/rtp.pcapng", 6000), ("camera/ndpi/rtp.pcapng", 6008), ("camera/ndpi/rtp.pcapng", 5000)],
    "mqtt": [("zeek/Traces/mqtt.pcap", 1883), ("ndpi/mqtt.pcap", 1883), ("ndpi/coap_mqtt.pcap", 1883)],
    "ads": [("ndpi/beckhoff_ads.pcapng", 48898), ("iti/beckoff/beckofflink.pcapng", 48898)],
    "knxnet_ip": [("ndpi/knxip.pcapng", 3671)],
    "cclink_ie_field_basic": [("nttcom/CCLinkFieldBasic/Traces/cclink_ief_basic_only.pcap", 61450)],
    "profinet_io_cm": [("icsnpp/profinet-io-cm/traces/profinet_io_cm.pcap", 34964),
                       ("icsnpp/profinet-io-cm/traces/profinet_io_cm_write.pcapng", 49153)],  # with fragments
}
# used when the corpus is absent
BUILT_IN = {
    "modbus": [bytes.fromhex("0001000000060103006b0003")],
    "s7comm": [bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102")],
    "enip": [bytes.fromhex("63000000") + bytes(20)],  # List Identity request
    "bacnet": [bytes.fromhex("810b000c0120ffff00ff1008")],
    "dnp3": [bytes.fromhex("056408c404000300b4b8c0d7007ace")],
    "iec104": [bytes.fromhex("680e0000000064010600010000000014")],
    "omron_fins": [bytes.fromhex("8000020000000000007a010100cccccc0001")],
    "opcua": [bytes.fromhex("48454c463a00000000000000000001000000010000000000000000001a000000")  # Hello
              + b"opc.tcp://plc.example:4840", bytes.fromhex("41434b461c000000") + bytes(20)],  # its ACK
    "hart_ip": [bytes.fromhex("010000000001000d01000927c0")],
    "slmp": [bytes.fromhex("500000ff03ff000c0010000104000064000000a80a00"), bytes.fromhex("d00000ff03ff0002000000"),
             bytes.fromhex("5400070000000000ff03ff0008001000011000000100")],
    "ssl": [bytes.fromhex("160301002d010000290303" + "00" * 33 + "0002002f0100")],  # ClientHello
    "ssh": [b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"],
    "smb": [bytes.fromhex("00000066fe534d4240" + "00" * 59 + "24000100" + "00" * 32 + "0202")],  # SMB2 negotiate
    "netbios-ns": [bytes.fromhex("12340110000100000000000020" "4641454d4544434e4546454f4548454a454f4546454646434341"
                                 "4341434141410000200001")],  # name query for PLC-ENGINEER<00>
    "snmp": [bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b060102010105000500")],
    "ntp": [bytes.fromhex("23") + bytes(47)],  # client request
    "rtcp": [bytes.fromhex("80c800061d95389b" + "00" * 12 + "000009c400061a80")],  # sender report
    "rtsp": [b"DESCRIBE rtsp://cam/live RTSP/1.0\r\nCSeq: 2\r\n\r\n", b"$\x00\x00\x0c\x80\x60\x00\x01" + bytes(8)],
    "ssdp": [b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n\r\n"],
    "ws-discovery": [(b'<?xml version="1.0"?><e:Envelope xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
                      b"<e:Header><w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</w:Action></e:Header>"
                      b"<e:Body><d:Hello><d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>"
                      b"onvif://www.onvif.org/hardware/X1</d:Scopes></d:Hello></e:Body></e:Envelope>")],
    "ftp": [b"220 FTP server ready\r\n", b"USER anonymous\r\n"],
    "http": [b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: cam\r\n\r\n"],
    "telnet": [b"\xff\xfd\x18\xff\xfd\x20\r\nlogin: "],
    "rdp": [bytes.fromhex("0300002924e00000000000") + b"Cookie: mstshash=eng\r\n" + bytes.fromhex("0100080003000000"),
            bytes.fromhex("030000130ed000001234000200080001000000")],  # connection request, confirm (TLS)
    "vnc": [b"RFB 003.008\n"],
    "pop3": [b"+OK POP3 ready\r\n", b"USER ops\r\n", b"PASS x\r\n"],
    "imap": [b"* OK IMAP4rev1 ready\r\n", b"a1 LOGIN ops x\r\n", b"a1 OK done\r\n"],
    "smtp": [b"220 mail ESMTP Postfix\r\n", b"AUTH PLAIN AG9wcwB4\r\n", b"235 2.7.0 ok\r\n"],
    "teamviewer": [bytes.fromhex("17240a00") + bytes(20)],
    "rtp": [bytes.fromhex("80600001000003e81d95389b") + bytes(160)],
    "mqtt": [bytes.fromhex("101000044d5154540402003c0004") + b"abcd", bytes.fromhex("820a00010005746f70696301")],
    "ads": [bytes.fromhex("000020000000050d756001011027c0a801630101808004000400000000000000000005000000")],
    "knxnet_ip": [bytes.fromhex("06100202004e08010a0000050e57360102001101000000fa12345678e000170c00246d012345")
                  + b"KNX".ljust(30, b"\0") + bytes.fromhex("0a020201030104010501")],
    "cclink_ie_field_basic": [bytes.fromhex("500000ffff03003e000000700e000001000000") + bytes(28)
                              + bytes.fromhex("808610ac0100d806f40103000b00010000000000818610ac")],
    "profinet_io_cm": [bytes.fromhex("04002000100000000000000000000000000000000000000101" "00a0de976cd111827100a02442df7d"
                                     "902f141300000010a994d2106890ca5a03000000010000000700000002000000000004000000"
                                     "000000000000")],  # little-endian Read request
}
# link-layer protocols: traces whose frames of the protocol's EtherType (or LLC/SNAP header) seed them
LINK_SEED_TRACES = {
    "lldp": ["zeek/Traces/lldp.pcap", "iti/profinet/Profinet_Failed.pcap"],
    "cdp": ["zeek/Traces/cdp-v1.pcap"],
    "goose": ["iti/IEC61850/GOOSE.pcap", "iti/IEC61850/Sample_File_GOOSE.pcap"],
    "profinet": ["iti/profinet/ChangeIPUsingDCP.pcap", "iti/profinet/profinet-wireshark-bug.pcap",
                 "iti/profinet/PROFINET-RT.pcap", "icsnpp/profinet-io-cm/traces/profinet_io_cm.pcap"],
    "cclink_ie": ["nttcom/CCLinkField-CCLinkControl/Traces/cc_link_ief.pcap", "nttcom/CCLinkIENoIP/Traces/test2.pcap"],
}
LINK_BUILT_IN = {
    "lldp": [bytes.fromhex("020704001122334455040302000106020078") + bytes(2)],
    "cdp": [bytes.fromhex("aaaa0300000c2000") + bytes.fromhex("02b4000000010006523100060009636973636f")],
    "goose": [bytes.fromhex("0001002600000000611c8004676362318102000a8501018601028701008801018901008a0101")],
    "profinet": [bytes.fromhex("fefe05000100000100010004ffff0000"), bytes.fromhex("8000") + bytes(40)],
    "cclink_ie": [bytes.fromhex("15010000000000010100") + bytes(4), bytes.fromhex("2507000013010000010000000000")
                  + bytes(30)],
}
PROTOCOLS = {p.name: p for p in registry.PROTOCOLS}
LINK_PROTOCOLS = {p.name: p for p in registry.LINK_PROTOCOLS}


@functools.cache
def corpus_pdus(name: str) -> tuple[tuple[bytes, bool, bool], ...]:
    """(payload, sent by the client?, over TCP?) of the protocol's packets in its seed traces, in
    capture order."""
    from scapy.layers.inet import TCP, UDP
    from scapy.utils import rdpcap

    out = []
    for trace, port in SEED_TRACES[name]:
        if (CORPUS / trace).exists():
            for pkt in rdpcap(str(CORPUS / trace), count=400):
                l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
                if l4 is not None and port in (l4.sport, l4.dport) and bytes(l4.payload):
                    out.append((bytes(l4.payload), l4.dport == port, isinstance(l4, TCP)))
    return tuple(out)


@functools.cache
def seeds(name: str) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys([*BUILT_IN[name], *(payload for payload, _, _ in corpus_pdus(name))]))


def _l2_payload(frame: bytes) -> tuple[int, bytes]:
    """(EtherType or 0 for 802.3, payload after the MAC header and VLAN tags) of an Ethernet frame."""
    pos, ethertype = 12, int.from_bytes(frame[12:14], "big")
    while ethertype in (0x8100, 0x88A8):
        pos += 4
        ethertype = int.from_bytes(frame[pos : pos + 2], "big")
    return (ethertype if ethertype >= 0x600 else 0), frame[pos + 2 :]


@functools.cache
def link_seeds(name: str) -> tuple[bytes, ...]:
    from scapy.utils import rdpcap

    proto = LINK_PROTOCOLS[name]
    out = list(LINK_BUILT_IN[name])
    for trace in LINK_SEED_TRACES[name]:
        if (CORPUS / trace).exists():
            for pkt in rdpcap(str(CORPUS / trace), count=400):
                ethertype, payload = _l2_payload(bytes(pkt))
                if ethertype == proto.ethertype and payload.startswith(proto.llc):
                    out.append(payload)
    return tuple(dict.fromkeys(out))


@st.composite
def mutated(draw, name: str, link: bool = False) -> bytes:
    data = bytearray(draw(st.sampled_from(link_seeds(name) if link else seeds(name))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "cut", "insert", "repeat")))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(max_size=8))
        else:
            data += data[pos:]
    return bytes(data)


# What a decoder may hand back, whatever its input: attribute and fact names from the code, actions
# (a protocol's own names: "Read State", "READ_COILS", "unknown-0x68") and statuses as short printable
# text, attribute values that become strings (wire.EVENTS attrs), text no longer than MAX_TEXT.
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
LABEL = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
MAX_TEXT = 1024  # the longest seen from the corpus is 167 characters (an SNMP sysDescr)
ATTR_TYPES = (str, int, float)


def _check(items: list) -> int:
    """Fail unless every item is a well-formed Event or Fact; return how many there were."""
    assert isinstance(items, list), f"decode returned {type(items).__name__}, not a list"
    for item in items:
        assert type(item) in (Event, Fact), f"decode yielded {item!r}"
        if type(item) is Fact:
            assert NAME.fullmatch(item.attribute), item
            assert type(item.value) is str and len(item.value) <= MAX_TEXT, item
            continue
        assert LABEL.fullmatch(item.action) and (item.status == "" or LABEL.fullmatch(item.status)), item
        assert type(item.protocol) is str, item
        for key, value in item.attrs.items():
            assert type(key) is str and NAME.fullmatch(key), (key, item)
            assert isinstance(value, ATTR_TYPES) and type(value) is not bool, (key, value, item)
            assert len(str(value)) <= MAX_TEXT, (key, item)
    return len(items)


def _exercise_link(name: str, payloads: list[bytes], directions: list[bool]) -> Counter:
    """Decode ``payloads`` as one L2 flow: counts of ``pdus``, ``malformed`` ones and ``items``."""
    session = Session("l2")
    seen = Counter()
    for payload, is_orig in zip(payloads, directions):
        seen["pdus"] += 1
        try:
            items = LINK_PROTOCOLS[name].decode(payload, is_orig, session)
        except MALFORMED:
            seen["malformed"] += 1
            continue
        seen["items"] += _check(items)
    return seen


def _exercise(name: str, payloads: list[bytes], directions: list[bool]) -> Counter:
    """Decode ``payloads`` as one flow (detect, frame and stream them too): counts of ``pdus``,
    ``malformed`` ones and ``items``."""
    seen = Counter()
    proto = PROTOCOLS[name]
    session = Session("udp" if proto.transports == {"udp"} else "tcp")
    stream = Stream()
    seq = 1
    for payload, is_orig in zip(payloads, directions):
        calls = [(proto.detect, (payload,))]
        if proto.frame:
            calls += [(proto.frame, (payload,)), (stream.push, (seq, payload, len(payload), proto.frame))]
        for call, args in calls:
            try:
                call(*args)
            except MALFORMED:
                pass
        seq += len(payload)
        seen["pdus"] += 1
        try:
            items = proto.decode(payload, is_orig, session)
        except MALFORMED:
            seen["malformed"] += 1
            continue
        seen["items"] += _check(items)
    return seen


@pytest.fixture(autouse=True)
def no_decoder_faults():
    """The registry's guard turns any other exception into a malformed PDU: count them instead."""
    before = Counter(spec.FAULTS)
    yield
    assert spec.FAULTS == before, f"decoders failed otherwise than MALFORMED: {spec.FAULTS - before}"


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decoders_only_raise_malformed(name, data):
    payload = st.one_of(st.binary(max_size=300), mutated(name))
    payloads = data.draw(st.lists(payload, min_size=1, max_size=6))
    _exercise(name, payloads, data.draw(st.lists(st.booleans(), min_size=len(payloads), max_size=len(payloads))))


@pytest.mark.parametrize("name", sorted(LINK_PROTOCOLS))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_link_decoders_only_raise_malformed(name, data):
    payloads = data.draw(st.lists(st.one_of(st.binary(max_size=300), mutated(name, link=True)), min_size=1, max_size=6))
    _exercise_link(name, payloads, data.draw(st.lists(st.booleans(), min_size=len(payloads), max_size=len(payloads))))


def _frames(frame, payload: bytes) -> int:
    try:
        return frame(payload)
    except MALFORMED:
        return 0


def _assert_valid_pdus_decode(name: str, link: bool = False) -> None:
    """The spec-built PDUs of ``name`` all decode, the real ones (the corpus's, in their directions)
    nearly all — a few are TCP segments that are not whole PDUs — and together they yield events or
    facts."""
    if link:
        exercise, built_in, real = _exercise_link, LINK_BUILT_IN[name], [(p, True) for p in link_seeds(name)]
    else:
        frame = PROTOCOLS[name].frame  # TCP: only segments holding exactly one whole PDU
        real = [(p, o) for p, o, tcp in corpus_pdus(name) if not (tcp and frame) or _frames(frame, p) == len(p)]
        exercise, built_in = _exercise, BUILT_IN[name]
    items = 0
    for pdu in built_in:
        # in the direction it was built for, which the table does not say: one must take it
        tries = [exercise(name, [pdu], [is_orig]) for is_orig in (True, False)]
        assert any(not t["malformed"] for t in tries), f"{name}: spec-built PDU {pdu.hex()} refused"
        items += sum(t["items"] for t in tries)
    if real:
        seen = exercise(name, [p for p, _ in real], [is_orig for _, is_orig in real])
        assert seen["malformed"] <= seen["pdus"] // 10, f"{name}: {seen['malformed']} of {seen['pdus']} PDUs refused"
        items += seen["items"]
    assert items, f"{name}: {len(built_in) + len(real)} valid PDUs yielded nothing"


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_real_and_spec_built_pdus_decode(name):
    _assert_valid_pdus_decode(name)


@pytest.mark.parametrize("name", sorted(LINK_PROTOCOLS))
def test_real_and_spec_built_link_pdus_decode(name):
    _assert_valid_pdus_decode(name, link=True)


def _refuse_all(payload, is_orig, session):
    raise ValueError("refused")


@pytest.mark.parametrize(
    "broken",
    [_refuse_all, lambda payload, is_orig, session: [], lambda payload, is_orig, session: [Event("read", attrs={"x": b"\0"})],
     lambda payload, is_orig, session: [Fact("vendor", "x" * (MAX_TEXT + 1))]],
    ids=["refuses-every-pdu", "yields-nothing", "bytes-attribute", "unbounded-fact"],
)
@pytest.mark.parametrize(("name", "link"), [("modbus", False), ("goose", True)])
def test_a_broken_decoder_fails_these_checks(broken, name, link, monkeypatch):
    table = LINK_PROTOCOLS if link else PROTOCOLS
    monkeypatch.setitem(table, name, dataclasses.replace(table[name], decode=broken))
    with pytest.raises(AssertionError):
        _assert_valid_pdus_decode(name, link)


def _records(raw: bytes) -> list[tuple[int, int]]:
    """(data offset, length) of each record of a little-endian classic pcap."""
    out, pos = [], 24
    while pos + 16 <= len(raw):
        incl = struct.unpack_from("<I", raw, pos + 8)[0]
        out.append((pos + 16, incl))
        pos += 16 + incl
    return out


@pytest.mark.parametrize("trace", ["icsnpp/modbus/traces/modbus_example.pcap", "icsnpp/dnp3/traces/dnp3_example.pcap",
                                   "icsnpp/s7comm/traces/snap7.pcap", "icsnpp/enip/traces/enip_cip_example.pcap"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_captures_with_damaged_payloads_never_stop_the_pipeline(trace, data, tmp_path_factory):
    if not (CORPUS / trace).exists():
        pytest.skip("corpus not available")
    raw = bytearray((CORPUS / trace).read_bytes())
    records = [r for r in _records(raw) if r[1] > 54]  # past Ethernet + IPv4 + TCP headers
    for _ in range(data.draw(st.integers(1, 60))):
        start, length = data.draw(st.sampled_from(records))
        raw[start + data.draw(st.integers(54, length - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / "damaged.pcap"
    path.write_bytes(bytes(raw))
    intervals = list(iter_intervals([path]))
    assert sum(iv.counters["packets"] for iv in intervals) == len(_records(raw))
