"""Helpers for the sensor hot-path tests: the corpus location and crafted capture files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

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
