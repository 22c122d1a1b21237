"""pcap / pcapng replay: byte orders, timestamp resolutions, interfaces, damaged files."""

from __future__ import annotations

import csv
import struct

import numpy as np
import pytest

from sensor.capture.pcapfile import CaptureError, iter_frames

FRAMES = [(1700000000_123456, b"\x01" * 60), (1700000001_500000, b"\x02" * 42), (1700000002_000001, b"\x03" * 100)]


def _read(path):
    chunks = list(iter_frames(path, chunk=2))  # a small chunk size exercises chunk boundaries
    ts = np.concatenate([c.ts for c in chunks])
    data = [bytes(c.buf[o : o + n]) for c in chunks for o, n in zip(c.offset, c.caplen)]
    lt = np.concatenate([c.linktype for c in chunks])
    return ts, data, lt, sum(c.errors for c in chunks)


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(make_pcap, big, nano):
    path = make_pcap(FRAMES, big=big, nano=nano, linktype=113)
    ts, data, lt, errors = _read(path)
    assert ts.tolist() == [t for t, _ in FRAMES]
    assert data == [d for _, d in FRAMES]
    assert set(lt.tolist()) == {113} and errors == 0


def _block(btype: int, body: bytes, order: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def _shb(order: str = "<") -> bytes:
    return _block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def _idb(linktype: int, tsresol: int | None, order: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack(order + "HH", 0, 0)
    return _block(1, struct.pack(order + "HHI", linktype, 0, 65535) + opts, order)


def _epb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return _block(6, head + data, order)


def test_pcapng_interfaces_resolutions_sections(tmp_path):
    path = tmp_path / "t.pcapng"
    path.write_bytes(
        _shb() + _idb(1, None) + _idb(228, 9)  # µs Ethernet, ns raw IPv4
        + _epb(0, 1_700_000_000_000_000, b"a" * 20)
        + _epb(1, 1_700_000_000_500_000_123, b"b" * 24)
        + _block(3, struct.pack("<I", 8) + b"c" * 8)  # simple packet block: interface 0, no timestamp
        + _block(5, b"\0" * 8)  # interface statistics: skipped
        + _shb(">") + _idb(113, 3, ">") + _epb(0, 1_700_000_001_000, b"d" * 16, ">")  # big-endian, ms
    )
    ts, data, lt, errors = _read(path)
    assert data == [b"a" * 20, b"b" * 24, b"c" * 8, b"d" * 16]
    assert lt.tolist() == [1, 228, 1, 113]
    assert ts.tolist() == [1_700_000_000_000_000, 1_700_000_000_500_000, 1_700_000_000_500_000, 1_700_000_001_000_000]
    assert errors == 0


def test_pcapng_packet_for_unknown_interface_is_counted(tmp_path):
    path = tmp_path / "t.pcapng"
    path.write_bytes(_shb() + _idb(1, None) + _epb(3, 0, b"x" * 20) + _epb(0, 0, b"y" * 20))
    ts, data, lt, errors = _read(path)
    assert data == [b"y" * 20] and errors == 1


@pytest.mark.parametrize("cut", [1, 10, 17, 30])
def test_truncated_pcap_counts_one_damaged_record(make_pcap, cut):
    path = make_pcap(FRAMES)
    path.write_bytes(path.read_bytes()[:-cut])
    ts, data, lt, errors = _read(path)
    assert len(data) == 2 and errors == 1


def test_garbled_caplen_stops_with_an_error(make_pcap):
    path = make_pcap(FRAMES)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 24 + 16 + 60 + 8, 0x7FFFFFFF)  # caplen of the second record
    path.write_bytes(bytes(raw))
    ts, data, lt, errors = _read(path)
    assert len(data) == 1 and errors == 1


@pytest.mark.parametrize("content", [b"", b"abc", b"not a capture file at all"])
def test_not_a_capture_raises_capture_error(tmp_path, content):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError):
        list(iter_frames(path))


def test_corpus_frame_counts_match_capinfos(corpus):
    """Every corpus capture yields capinfos' packet count; damaged tails are counted, not fatal."""
    seen_linktypes = set()
    with open(corpus / "MANIFEST.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["packets"]]
    for row in rows:
        n = errors = 0
        for chunk in iter_frames(corpus / row["path"]):
            n += len(chunk)
            errors += chunk.errors
            seen_linktypes.update(chunk.linktype.tolist())
        assert n + errors in (int(row["packets"]), int(row["packets"]) + 1), row["path"]
    assert {0, 1, 113, 228} <= seen_linktypes
