"""RTP: streams are confirmed and measured from a sample of their first packets; the rest never
reaches Python."""

from __future__ import annotations

import random
import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sensor.decode import rtp
from sensor.decode.spec import Session
from sensor.meter.pipeline import whole_flows

T0 = 1_700_000_000_000_000  # µs


def stream(seqs, ssrc: int = 0x1D95389B, pt: int = 96, step_us: int = 20_000, ts_step: int = 1800) -> list:
    """Frames of an RTP stream, camera 10.0.0.51:5004 → NVR 10.0.0.40:50024."""
    frames = []
    for i, seq in enumerate(seqs):
        head = struct.pack(">BBHII", 0x80, pt, seq & 0xFFFF, (1000 + seq * ts_step) & 0xFFFFFFFF, ssrc)
        frames.append((T0 + i * step_us, bytes(Ether() / IP(src="10.0.0.51", dst="10.0.0.40")
                                                / UDP(sport=5004, dport=50024) / (head + bytes(160)))))
    return frames


def test_the_ndpi_streams(analyse):
    run = analyse("camera/ndpi/rtp.pcapng")
    streams = {e["resp_p"]: e["attrs"] for e in run.events if e["protocol"] == "rtp"}
    assert {port: (a["codec"], a["clock_rate"], a["lost"]) for port, a in streams.items()} == {
        6000: ("H263", "90000", "0"),  # UDP, static payload type 34
        5000: ("PCMA", "8000", "0"),  # TCP with RFC 4571 length prefixes
        6008: ("dynamic", "48000", "0")}  # Opus: the clock is estimated from the timestamps
    assert {f["resp_p"]: f["service"] for f in run.flows if f["service"]} == {6000: "rtp", 5000: "rtp", 6008: "rtp"}


def test_a_long_stream_costs_one_sample(make_pcap, analyse_path, decoded_pdus):
    path = make_pcap(stream(range(1000), step_us=2000, ts_step=180))
    run = analyse_path(path)
    [event] = run.events
    assert (event["action"], event["attrs"]["ssrc"], event["attrs"]["sampled"], event["attrs"]["lost"]) == (
        "stream", "0x1d95389b", str(rtp.SAMPLE), "0")
    assert float(event["attrs"]["jitter_ms"]) < 0.001 and event["attrs"]["clock_rate"] == "90000"
    assert len(decoded_pdus) == rtp.SAMPLE and whole_flows([path])[0]["orig_pkts"] == 1000  # all still counted


def test_loss_and_jitter_over_the_sample(make_pcap, analyse_path):
    seqs = [s for s in range(65530, 65530 + 70) if s not in (65534, 65539, 65540)]  # wraps, three lost
    [event] = analyse_path(make_pcap(stream(seqs, pt=0, ts_step=160))).events
    assert (event["attrs"]["codec"], event["attrs"]["clock_rate"], event["attrs"]["lost"]) == ("PCMU", "8000", "3")
    frames = stream(range(100), pt=0, ts_step=160)
    frames = [(ts + (5000 if i % 2 else 0), f) for i, (ts, f) in enumerate(frames)]  # ±5 ms arrival jitter
    [event] = analyse_path(make_pcap(frames)).events
    assert 2.0 < float(event["attrs"]["jitter_ms"]) < 6.0


def test_udp_that_only_looks_like_rtp_gets_no_service(make_pcap, analyse_path):
    rng = random.Random(1)
    frames = stream([rng.randrange(65536) for _ in range(50)])  # sequence numbers all over the place
    run = analyse_path(make_pcap(frames))
    assert not run.events and run.flows[0]["service"] == ""


def test_packets_the_sampler_rejects():
    assert rtp.parse(bytes.fromhex("80600001000003e81d95389b") + bytes(4)) == (96, 1, 1000, 0x1D95389B)
    assert rtp.parse(bytes.fromhex("80c8000600000001")) is None  # RTCP sender report
    assert rtp.parse(bytes.fromhex("40600001000003e81d95389b")) is None  # version 1
    assert rtp.parse(b"\x80\x60" + bytes(10)) is None  # all-zero header
    assert rtp.parse(bytes.fromhex("90600001000003e81d95389b")) is None  # extension flag without one
    session = Session("udp")
    assert rtp.decode(stream([1])[0][1][42:], True, session) == [] and not session.done
    assert rtp.frame(b"\x00\x0c") == 14 and rtp.frame(b"\x00") == 0


def test_dns_messages_are_not_taken_for_rtp():
    from scapy.layers.dns import DNS, DNSQR

    query = bytes(DNS(id=0x8000, rd=0, qd=DNSQR(qname="historian.plant.local")))  # 0x80 0x00: "RTP v2, PCMU"
    assert rtp.parse(query) is not None and not rtp.detect(query)
