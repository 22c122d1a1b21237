"""SYN fingerprints: the OS families nDPI and the captures' own user agents name (alone and as
the pipeline's facts, one SYN per source and interval), p0f-style signatures, malformed headers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from sensor.decode import tcpfp
from sensor.decode.spec import MALFORMED
from sensor.meter import synprint

# (trace, SYN sender) → what another tool or the capture itself says the sender runs
KNOWN = {
    ("camera/ndpi/rtsp.pcap", "10.1.1.10"): "Windows",  # nDPI: TCP Fingerprint …/Windows
    ("ndpi/fins.pcap", "10.1.1.173"): "Windows",  # nDPI: TCP Fingerprint …/Windows
    ("zeek/Traces/http/get.pcap", "141.142.228.5"): "macOS/iOS",  # its User-Agent: Wget (darwin12.2.0)
}


@pytest.mark.parametrize("trace, sender", sorted(KNOWN))
def test_known_senders(trace, sender, corpus):
    from scapy.utils import rdpcap

    syns = [p for p in rdpcap(str(corpus / trace)) if TCP in p and p[TCP].flags == "S" and p[IP].src == sender]
    assert syns and {tcpfp.guess(tcpfp.syn_fields(bytes(p[IP]))) for p in syns} == {KNOWN[trace, sender]}


def test_the_pipeline_fingerprints_one_syn_per_source_and_interval(analyse, monkeypatch):
    from sensor.meter import synprint

    calls, syn_fields = [], tcpfp.syn_fields
    monkeypatch.setattr(tcpfp, "syn_fields", lambda data: calls.append(data) or syn_fields(data))
    run = analyse("camera/ndpi/rtsp.pcap", float("inf"))
    facts = {(o["ip"], o["attribute"]): (o["value"], o["confidence"])
             for o in run.observations if o["source"] == "tcpfp"}
    assert facts[("10.1.1.10", "os")] == ("Windows", synprint.CONF_OS)
    assert facts[("10.1.1.10", "tcp_signature")][0] == "4:128:mss,nop,ws,nop,nop,sok:mss*44,8:df"
    assert len(calls) == len({ip for ip, _ in facts}) and not run.errors


def test_stacks_and_signatures():
    linux = IP(ttl=61, flags="DF") / TCP(flags="S", window=64240, options=[
        ("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)])
    syn = tcpfp.syn_fields(bytes(linux))
    assert (tcpfp.guess(syn), tcpfp.signature(syn)) == ("Linux", "4:64:mss,sok,ts,nop,ws:mss*44,7:df")
    windows6 = IPv6(hlim=128) / TCP(flags="S", window=64800, options=[
        ("MSS", 1440), ("NOP", None), ("WScale", 8), ("NOP", None), ("NOP", None), ("SAckOK", b"")])
    assert tcpfp.guess(tcpfp.syn_fields(bytes(windows6))) == "Windows"
    rtos = IP(ttl=255) / TCP(flags="S", window=5840, options=[("MSS", 1460)])
    syn = tcpfp.syn_fields(bytes(rtos))
    assert (tcpfp.guess(syn), tcpfp.signature(syn)) == ("", "4:255:mss:mss*4,0:")
    assert tcpfp.initial_ttl(1) == 32 and tcpfp.initial_ttl(200) == 255


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_malformed_headers_raise_only_countable_errors(data):
    try:
        syn = tcpfp.syn_fields(bytes((0x45,)) + data)
        tcpfp.signature(syn)
        tcpfp.guess(syn)
    except MALFORMED:
        pass


@pytest.mark.parametrize("sources", [3, 40, 5_000])
def test_first_syn_per_source_as_unique_rows_find_it(sources):
    """Each source's first SYN of a chunk, in capture order, as ``np.unique(rows, axis=0)`` found it
    (IPv4 and IPv6 sources sharing their low halves, a flood of one source's SYNs among them)."""
    rng = np.random.default_rng(sources)
    kinds = np.zeros((sources, 3), np.uint64)
    kinds[:, 0] = rng.choice([4, 6], sources)
    kinds[:, 1] = np.where(kinds[:, 0] == 6, rng.integers(0, 3, sources), 0)  # high halves 0-2 for IPv6
    kinds[:, 2] = rng.integers(0, 8, sources)  # so low halves repeat across versions and high halves
    rows = kinds[np.concatenate([rng.integers(0, sources, 20_000), np.zeros(3_000, np.int64)])]
    idx = np.sort(rng.choice(len(rows) * 2, len(rows), replace=False))  # the SYNs among a chunk's packets
    cols = np.zeros((len(rows) * 2, 3), np.uint64)
    cols[idx] = rows
    p = SimpleNamespace(ipver=cols[:, 0].astype(np.uint8), src_hi=cols[:, 1], src_lo=cols[:, 2])
    _, first = np.unique(rows, axis=0, return_index=True)
    assert synprint.first_per_source(p, idx).tolist() == idx[np.sort(first)].tolist()
    assert synprint.first_per_source(p, idx[:1]).tolist() == idx[:1].tolist()
