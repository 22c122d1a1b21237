"""Helpers for the sensor hot-path tests: the corpus, crafted capture files, app-layer analysis."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sensor.meter.pipeline import iter_intervals

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def pcap_bytes(frames: list[tuple[int, bytes]], linktype: int = 1, big: bool = False, nano: bool = False,
               snaplen: int = 65535) -> bytes:
    """A classic pcap file holding ``frames`` as (timestamp in µs, frame bytes)."""
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in frames:
        sec, frac = divmod(int(ts), 1_000_000)
        frac *= 1000 if nano else 1
        out.append(struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


@pytest.fixture
def make_pcap(tmp_path):
    """make_pcap(frames, name="t.pcap", **pcap_bytes options) -> path of the written file."""
    counter = iter(range(1_000_000))

    def make(frames: list[tuple[int, bytes]], name: str | None = None, **kw) -> Path:
        path = tmp_path / (name or f"t{next(counter)}.pcap")
        path.write_bytes(pcap_bytes(frames, **kw))
        return path

    return make


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.csv").exists():
        pytest.skip("corpus not available")
    return CORPUS


@dataclass
class Analysis:
    """What the pipeline made of a capture: app-layer events and observations, each flow's final
    record, decode errors."""

    events: list[dict]
    observations: list[dict]
    flows: list[dict]
    errors: Counter

    def actions(self, protocol: str) -> list[str]:
        return [e["action"] for e in self.events if e["protocol"] == protocol]

    def facts(self, ip: str) -> dict[str, str]:
        return {o["attribute"]: o["value"] for o in self.observations if o["ip"] == ip}


def analyse_capture(path: Path, interval: float = 60.0) -> Analysis:
    out = Analysis([], [], [], Counter())
    for iv in iter_intervals([path], interval):
        out.events.extend(iv.events)  # (+= would give an IntervalEvents: its __radd__ comes first)
        out.observations += iv.observations
        out.flows += [f for f in iv.flow_records() if f["final"]]  # one record per flow, the last
        out.errors.update(iv.decode_errors)
    return out


@pytest.fixture
def analyse_path():
    """analyse_path(capture path, interval=60.0) -> Analysis."""
    return analyse_capture


@pytest.fixture
def analyse(corpus):
    """analyse(corpus-relative trace, interval=60.0) -> Analysis."""
    return lambda trace, interval=60.0: analyse_capture(corpus / trace, interval)


@pytest.fixture
def decoded_pdus(monkeypatch) -> list[bytes]:
    """Every PDU the application layer hands to a decoder from now on, in order (the real decoders run)."""
    from sensor.meter import applayer

    seen: list[bytes] = []
    decode = applayer.AppLayer._decode

    def spy(self, flow, slot, pdus, *args):
        seen.extend(pdus)
        return decode(self, flow, slot, pdus, *args)

    monkeypatch.setattr(applayer.AppLayer, "_decode", spy)
    return seen


def transport_payloads(path: Path, port: int) -> list[tuple[bool, bytes]]:
    """(sent to ``port``?, payload) of every TCP/UDP packet with payload to or from ``port``."""
    from scapy.layers.inet import TCP, UDP
    from scapy.utils import rdpcap

    out = []
    for pkt in rdpcap(str(path)):
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
        if l4 is not None and port in (l4.sport, l4.dport) and bytes(l4.payload):
            out.append((l4.dport == port, bytes(l4.payload)))
    return out


@pytest.fixture
def payloads(corpus):
    """payloads(corpus-relative trace, port) -> [(sent to port?, TCP/UDP payload), …]."""
    return lambda trace, port: transport_payloads(corpus / trace, port)
