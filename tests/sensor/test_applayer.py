"""Application-layer stage: detection from payload, TCP framing, error counting, the Python budget."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from sensor.meter import applayer
from sensor.meter.pipeline import iter_intervals

CLI, SRV = ("02:00:00:00:00:01", "10.0.0.1"), ("02:00:00:00:00:02", "10.0.0.2")
T0 = 1_700_000_000_000_000  # µs
S = 1_000_000


def modbus(tid: int, pdu: bytes, unit: int = 1) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


READ = modbus(1, bytes.fromhex("03006b0003"))  # read holding registers 107..109
ANSWER = modbus(1, bytes.fromhex("0306022b00000064"))


class Tcp:
    """A client → server TCP conversation (handshake included) with explicit control of sequence numbers."""

    def __init__(self, port: int = 502, sport: int = 40000):
        self.ports = (sport, port)
        self.next = {True: 1001, False: 5001}
        self.frames: list[tuple[int, bytes]] = []
        self.t = 0.0
        self.segment(True, b"", "S", seq=1000).segment(False, b"", "SA", seq=5000).segment(True, b"", "A")

    def segment(self, from_client: bool, data: bytes, flags: str = "PA", seq: int | None = None) -> Tcp:
        src, dst = (CLI, SRV) if from_client else (SRV, CLI)
        sport, dport = self.ports if from_client else self.ports[::-1]
        seq = self.next[from_client] if seq is None else seq
        tcp = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=self.next[not from_client])
        self.t += 0.01
        self.frames.append((T0 + int(self.t * S), bytes(Ether(src=src[0], dst=dst[0]) / IP(src=src[1], dst=dst[1])
                                                       / tcp / data)))
        self.next[from_client] = seq + len(data) + ("S" in flags)
        return self


def test_modbus_on_a_non_standard_port_is_found_from_its_payload(make_pcap, analyse_path):
    conv = Tcp(port=5020).segment(True, READ).segment(False, ANSWER)
    run = analyse_path(make_pcap(conv.frames))
    [event] = run.events
    assert (event["protocol"], event["action"], event["status"], event["resp_p"]) == (
        "modbus", "READ_HOLDING_REGISTERS", "OK", 5020)
    assert event["attrs"]["address"] == "107" and event["attrs"]["quantity"] == "3"
    assert [f["service"] for f in run.flows] == ["modbus"]
    assert {"ip": "10.0.0.2", "attribute": "protocol_served", "value": "modbus"}.items() <= run.observations[0].items()


def test_non_modbus_traffic_on_port_502_is_not_modbus(analyse):
    """Zeek's modbus_and_non_modbus_on_port_502: scanners speak DCE/RPC, TLS, HTTP and RDP to 502."""
    run = analyse("zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap")
    named = sorted((f["service"], f["orig_h"]) for f in run.flows if f["proto"] == "tcp")
    assert [n for n in named if n[0] == "modbus"] == [("modbus", "10.0.0.9")] and len(named) == 8
    assert ("ssl", "66.175.213.4") in named  # the TLS scanner, as in Zeek's conn.log
    assert not run.errors


def test_pdus_split_across_segments_or_sharing_one_are_reassembled(make_pcap, analyse_path):
    second = modbus(2, bytes.fromhex("0100000008"))
    conv = Tcp().segment(True, READ[:5]).segment(True, READ[5:] + second)  # 1.4 PDUs, then 0.6 + 1
    conv.segment(False, ANSWER + modbus(2, bytes.fromhex("010100")))
    run = analyse_path(make_pcap(conv.frames))
    assert [(e["action"], e["status"], e["attrs"]["tid"]) for e in run.events] == [
        ("READ_HOLDING_REGISTERS", "OK", "1"), ("READ_COILS", "OK", "2")]


def test_a_gap_drops_the_unfinished_pdu_and_decoding_resumes(make_pcap, analyse_path):
    conv = Tcp().segment(True, READ).segment(False, ANSWER)
    conv.segment(True, READ[:6])  # the rest of this PDU is never captured …
    conv.segment(True, modbus(3, bytes.fromhex("0500010000")), seq=conv.next[True] + 6)  # … the next one is
    run = analyse_path(make_pcap(conv.frames))
    assert [(e["action"], e["attrs"]["tid"]) for e in run.events] == [
        ("READ_HOLDING_REGISTERS", "1"), ("WRITE_SINGLE_COIL", "3")]
    assert not run.errors


def test_retransmissions_are_decoded_once(make_pcap, analyse_path):
    conv = Tcp().segment(True, READ)
    conv.segment(True, READ, seq=conv.next[True] - len(READ)).segment(False, ANSWER)
    assert len(analyse_path(make_pcap(conv.frames)).events) == 1


def test_malformed_pdus_are_counted_and_skipped(make_pcap, analyse_path):
    bad = b"\x00\x07\x00\x01\x00\x06\x01\x03\x00\x00\x00\x01"  # protocol id 1: not Modbus framing
    conv = Tcp().segment(True, READ).segment(False, ANSWER).segment(True, bad)
    conv.segment(True, modbus(4, b"\x2b"))  # an MEI request without its type byte
    conv.segment(True, modbus(5, bytes.fromhex("0100000001")))
    run = analyse_path(make_pcap(conv.frames))
    assert run.errors == {"modbus": 2}
    assert [e["attrs"]["tid"] for e in run.events] == ["1", "5"]


def test_undetected_flows_stop_reaching_python_after_max_tries(make_pcap, analyse_path, monkeypatch):
    tries = []
    detect = applayer.AppLayer._detect

    def counting(self, slot, *args):
        tries.append(slot)
        return detect(self, slot, *args)

    monkeypatch.setattr(applayer.AppLayer, "_detect", counting)
    rtp = [(T0 + i * 20_000, bytes(Ether(src=CLI[0], dst=SRV[0]) / IP(src=CLI[1], dst=SRV[1])
                                   / UDP(sport=5004, dport=5006) / (b"\x80\x60" + bytes(170))))
           for i in range(500)]
    run = analyse_path(make_pcap(rtp))
    assert len(tries) == applayer.MAX_TRIES and run.flows[0]["service"] == "" and not run.events


def test_the_packets_of_a_flow_stopped_mid_chunk_are_passed_over_at_once(make_pcap, analyse_path, monkeypatch):
    """At line rate a camera's RTP flow has thousands of packets in a chunk after its sample: from the
    next block of rows on they are left out, not looked at one by one."""
    rows = 0
    every_row = applayer._rows

    def counting(*args, **kw):
        nonlocal rows
        for row in every_row(*args, **kw):
            rows += 1
            yield row

    monkeypatch.setattr(applayer, "_rows", counting)
    stream = [(T0 + i * 20, bytes(Ether(src=CLI[0], dst=SRV[0]) / IP(src=CLI[1], dst=SRV[1]) / UDP(sport=5004, dport=5006)
                                  / (struct.pack(">BBHII", 0x80, 96, i, 3000 * i, 7) + bytes(100))))
              for i in range(3000)]
    run = analyse_path(make_pcap(stream))
    assert run.flows[0]["service"] == "rtp" and [e["attrs"]["sampled"] for e in run.events] == ["64"]
    assert rows <= applayer.MAX_TRIES + 1024  # the tries, then one block (was every packet: 3,000)


def test_a_protocol_claimed_but_never_confirmed_is_not_served(make_pcap, analyse_path):
    """RTP's one-packet check claims the flow; the responder's other SSRC shows it is not one stream."""
    def rtp(src, dst, ports, ssrc: int, t: int) -> tuple[int, bytes]:
        header = struct.pack(">BBHII", 0x80, 96, 1, 1000, ssrc)
        return T0 + t, bytes(Ether(src=src[0], dst=dst[0]) / IP(src=src[1], dst=dst[1])
                             / UDP(sport=ports[0], dport=ports[1]) / (header + bytes(100)))

    run = analyse_path(make_pcap([rtp(CLI, SRV, (5004, 5006), 1, 0), rtp(SRV, CLI, (5006, 5004), 2, 20_000)]))
    assert run.flows[0]["service"] == "" and not run.observations


def test_a_response_after_the_interval_end_stands_alone(make_pcap, analyse_path):
    conv = Tcp().segment(True, READ)
    conv.t += 60
    conv.segment(False, ANSWER)
    run = analyse_path(make_pcap(conv.frames), interval=60.0)
    assert [(e["action"], e["status"]) for e in run.events] == [
        ("READ_HOLDING_REGISTERS", ""), ("READ_HOLDING_REGISTERS", "OK")]


def test_services_are_joined_as_zeek_does(analyse):
    run = analyse("icsnpp/s7comm/traces/s7comm_plus.pcap")
    assert sorted(f["service"] for f in run.flows) == ["", "cotp,s7comm", "cotp,s7comm-plus"]


def test_decoding_is_the_same_whatever_the_chunking(corpus, monkeypatch):
    """Chunks of a few frames cut flows mid-detection and mid-PDU: same events as one chunk."""
    from sensor.meter import pipeline

    trace = corpus / "icsnpp/enip/traces/enip_cip_example.pcap"
    whole = [e for iv in iter_intervals([trace]) for e in iv.events]
    monkeypatch.setattr(pipeline, "FILE_CHUNK", 7)
    chunked = [e for iv in iter_intervals([trace]) for e in iv.events]
    assert len(whole) > 500 and chunked == whole


@pytest.mark.parametrize("n", [1, 4, 50])
def test_first_per_group_keeps_each_keys_first_n_in_array_order(n):
    """As counting each key's elements in array order: flows of one packet, of a few, of thousands
    (a chunk's slots still being detected), and none."""
    rng = np.random.default_rng(n)
    keys = np.concatenate([rng.integers(0, 300, 5_000), np.full(3_000, 7), np.arange(1_000, 1_100)])
    keys = keys[rng.permutation(len(keys))]
    seen: dict[int, int] = {}
    expected = []
    for key in keys.tolist():
        seen[key] = seen.get(key, 0) + 1
        expected.append(seen[key] <= n)
    assert applayer.first_per_group(keys, n).tolist() == expected
    assert applayer.first_per_group(keys[:0], n).tolist() == []
