"""Services the corpus and public captures showed missing or wrong: NetBIOS against nDPI, two-way RTP,
EtherNet/IP on zero-filled payloads, TLS 1.3 resumption, and TLS met mid-connection."""

from __future__ import annotations

import re
import struct

import dpkt

from sensor.decode import enip, tls
from sensor.decode.spec import Event, Session
from sensor.simulate import ACK, PSH_ACK, Host, tcp_frame, udp_frame

CLIENT = Host("client", "hmi", "10.0.0.5", "00:0b:ab:00:00:05", False, 128)
SERVER = Host("server", "plc", "10.0.0.9", "00:1b:1b:00:00:09", False, 64)
_NDPI_FLOW = re.compile(r"^\t\d+\t(UDP|TCP) (\S+):(\d+) <?-> (\S+):(\d+) .*?\[proto: [\d.]+/([\w.]+)\]"
                        r".*?\[Confidence: ([\w ]+)\](?:.*?\[Hostname/SNI: ([^\]]+)\])?")


def test_netbios_flows_are_labelled_as_ndpi_finds_them(analyse, corpus):
    """Every flow nDPI recognises as NetBIOS by its payload (not by port) is netbios-ns, -dgm or -ssn
    here, and the names nDPI reads from name-service queries are the names our events ask for."""
    run = analyse("ndpi/netbios.pcap")
    ours = {(f["proto"], frozenset({(f["orig_h"], f["orig_p"]), (f["resp_h"], f["resp_p"])})): f["service"]
            for f in run.flows}
    compared, names = 0, set()
    for line in (corpus / "ndpi/result/netbios.pcap.out").read_text().splitlines():
        m = _NDPI_FLOW.match(line)
        if m is None or not m[6].startswith("NetBIOS") or m[7] != "DPI":
            continue
        key = (m[1].lower(), frozenset({(m[2], int(m[3])), (m[4], int(m[5]))}))
        expected = {137: "netbios-ns", 138: "netbios-dgm", 139: "netbios-ssn"}[min(int(m[3]), int(m[5]))]
        assert expected in ours[key].split(","), (line, ours[key])
        compared += 1
        if m[8] and m[8] != "*" and expected == "netbios-ns":
            names.add(m[8])
    assert compared == 15
    asked = {e["attrs"]["name"].lower() for e in run.events if e["protocol"] == "netbios-ns"}
    assert names and names <= asked
    # the answers as tshark 4 decodes them (nbns.name, nbns.addr, nbns.unit_id of each response)
    answered = {(e["orig_h"], e["attrs"]["name"], e["attrs"].get("answers") or e["attrs"]["mac"])
                for e in run.events if e["protocol"] == "netbios-ns" and e["status"] == "ok"}
    assert answered == {("10.0.1.87", "*", "00:1c:c4:10:79:0f"), ("10.0.5.233", "*", "00:1c:c4:10:79:0f"),
                        ("10.0.4.165", "GUNNAR", "10.0.4.24"), ("10.0.4.24", "GURU", "10.0.5.1")}


def _rtp(seq: int, stamp: int, ssrc: int, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, stamp, ssrc) + bytes(160)


def test_two_way_rtp_on_one_five_tuple_confirms_both_streams(make_pcap, analyse_path):
    """VoIP or a camera's talk-back audio: G.711 each way between the same ports, an SSRC per side."""
    frames = []
    for i in range(40):
        frames.append((1_000_000 + 20_000 * i, udp_frame(CLIENT, SERVER.mac, SERVER.ip, 40000, 50000,
                                                       _rtp(100 + i, 160 * i, 0x11111111))))
        frames.append((1_005_000 + 20_000 * i, udp_frame(SERVER, CLIENT.mac, CLIENT.ip, 50000, 40000,
                                                       _rtp(7000 + i, 90000 + 160 * i, 0x22222222, pt=8))))
    run = analyse_path(make_pcap(frames))
    assert [f["service"] for f in run.flows] == ["rtp"]
    streams = {(e["orig_h"], e["attrs"]["ssrc"], e["attrs"]["codec"]) for e in run.events if e["action"] == "stream"}
    assert {(ssrc, codec) for _, ssrc, codec in streams} == {("0x11111111", "PCMU"), ("0x22222222", "PCMA")}


def _tcp_flow(port: int, payloads: list[tuple[bool, bytes]]) -> list[tuple[int, bytes]]:
    seq = {True: 1000, False: 9000}
    frames = []
    for i, (from_client, data) in enumerate(payloads):
        src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        sport, dport = (51000, port) if from_client else (port, 51000)
        frames.append((1_000_000 + 1000 * i, tcp_frame(src, dst, sport, dport, seq[from_client],
                                                       seq[not from_client], PSH_ACK if data else ACK, data)))
        seq[from_client] += len(data)
    return frames


def test_a_zero_filled_transfer_is_not_ethernet_ip(make_pcap, analyse_path):
    """An FTP data connection carrying zeros (lengths multiples of 24) once passed for EtherNet/IP NOPs."""
    frames = _tcp_flow(20, [(True, bytes(24 * 60))] * 4 + [(False, b"")])
    frames += [(2_000_000, udp_frame(CLIENT, SERVER.mac, SERVER.ip, 44818, 44818, bytes(48)))]
    run = analyse_path(make_pcap(frames))
    assert [f["service"] for f in run.flows] == ["", ""] and not run.events


def test_the_ethernet_ip_detector_wants_a_telling_command_and_a_session():
    def message(command: int, session: int, data: bytes = b"") -> bytes:
        return struct.pack("<HHII8sI", command, len(data), session, 0, b"", 0) + data

    assert enip.detect(message(0x63, 0))  # List Identity: no session needed
    assert enip.detect(message(0x65, 0, b"\x01\x00\x00\x00"))  # Register Session
    assert not enip.detect(message(0x6F, 0, bytes(16)))  # Send RR Data outside a session
    assert enip.detect(message(0x6F, 0x1F2E3D4C, bytes(16)))
    assert not enip.detect(message(0, 0) * 3) and enip.detect(message(0, 0) + message(0x63, 0))


def _hello(kind: int, session_id: bytes, extensions: bytes, cipher: bytes) -> bytes:
    body = (b"\x03\x03" + bytes(32) + bytes([len(session_id)]) + session_id + cipher
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def _handshake(session_id: bytes, server_id: bytes, server_extensions: bytes) -> Event:
    session = Session()
    client_ext = struct.pack("!HHB2H", 43, 5, 4, 0x0304, 0x0303)  # supported_versions 1.3, 1.2
    [event, _] = tls.decode(_hello(1, session_id, client_ext, b"\x00\x02\x13\x01\x01\x00"), True, session)
    tls.decode(_hello(2, server_id, server_extensions, b"\x13\x01\x00"), False, session)
    return event


def test_tls13_resumption_is_a_chosen_pre_shared_key_not_an_echoed_session_id():
    legacy_id = bytes(range(32))
    version_13 = struct.pack("!HHH", 43, 2, 0x0304)
    full = _handshake(legacy_id, legacy_id, version_13)  # middlebox compatibility: the id is echoed
    assert (full.status, full.attrs["resumed"]) == ("TLSv13", "")
    resumed = _handshake(legacy_id, legacy_id, version_13 + struct.pack("!HHH", 41, 2, 0))  # PSK identity 0
    assert (resumed.status, resumed.attrs["resumed"]) == ("TLSv13", "true")
    assert _handshake(legacy_id, legacy_id, b"").attrs["resumed"] == "true"  # TLS 1.2 session resumption
    assert _handshake(legacy_id, bytes(32), b"").attrs["resumed"] == ""


def test_tls_met_mid_connection_is_labelled_from_its_records(corpus, make_pcap, analyse_path):
    """Zeek's tls1.2.pcap from its first application-data segment on: no handshake, still ssl."""
    with open(corpus / "zeek/Traces/tls/tls1.2.pcap", "rb") as f:
        packets = [(int(round(ts * 1_000_000)), buf) for ts, buf in dpkt.pcap.Reader(f)]
    first = next(i for i, (_, buf) in enumerate(packets)
                 if bytes(dpkt.ethernet.Ethernet(buf).data.data.data)[:1] == b"\x17")
    run = analyse_path(make_pcap(packets[first:]))
    assert [f["service"] for f in run.flows] == ["ssl"] and not run.events


def test_record_layer_detection_refuses_what_is_not_whole_records():
    record = b"\x17\x03\x03\x00\x20" + bytes(range(32))
    assert tls.detect(record) and tls.detect(record + b"\x15\x03\x03\x00\x02\x01\x00")
    assert not tls.detect(record[:-1]) and not tls.detect(record + b"\x17")  # a record cut or run over
    assert not tls.detect(b"\x16\x03\x03\x00\x20" + bytes(32))  # one handshake record alone: not telling
    assert not tls.detect(b"\x17\x03\x07\x00\x20" + bytes(32)) and not tls.detect(bytes(37))
