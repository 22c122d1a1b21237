"""The compiled DNP3 path gives exactly what the Python decoder gives: on every DNP3 capture of the
corpus and on random, split, truncated and malformed link frames — events one per PDU and folded
(requests with their responses, object headers both ways), services served, malformed counts and
flow services — fragments spread over link frames (put together for the kernel), flows that move
to the Python path midway (more object headers than the kernel holds, split frames), over the
event cap and with a bounded flow table. (The simulated plant has no DNP3.)"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import pytest
from fastpaths import CORPUS, agree_bounded, agree_on_fuzz, assert_paths_agree, canonical, fuzz_capture, run

from sensor.decode import dnp3
from sensor.meter import fast_dnp3

DNP3_TRACES = sorted(p for p in [*(CORPUS / "ics-pcap/DNP3").glob("*/*.pcap"), *(CORPUS / "iti/dnp3").glob("*.pcap"),
                                 *(CORPUS / "icsnpp/dnp3/traces").glob("*.pcap"), CORPUS / "ndpi/dnp3.pcap",
                                 *(CORPUS / "zeek/Traces/dnp3").glob("*.pcap")] if p.exists())
Frame = Callable[[random.Random, bool], bytes]


def link(user: bytes, control: int = 0xC4, dst: int = 10, src: int = 1) -> bytes:
    """A link frame: header with its CRC, user data in 16-byte blocks each with its CRC."""
    head = b"\x05\x64" + bytes([5 + len(user), control]) + struct.pack("<HH", dst, src)
    out = head + struct.pack("<H", dnp3._crc(head))
    for pos in range(0, len(user), 16):
        out += user[pos : pos + 16] + struct.pack("<H", dnp3._crc(user[pos : pos + 16]))
    return out


REQUEST_LINK_STATUS = link(b"", 0xC9)


def _header(rng: random.Random, data: bool, plain: bool) -> bytes:
    """An object header (with its objects when ``data``): class polls, ranges and counts of each
    width, prefixed objects, now and then (unless ``plain``) a value past what the kernel holds."""
    group, variation = rng.choice(((60, 1), (60, 2), (1, 2), (1, 1), (30, 1), (20, 1), (12, 1), (3, 2), (80, 1),
                                   (50, 1), (70, 3), (110, 4), (120, 1)))
    if group == 60:
        return bytes([group, variation, 0x06])
    code = rng.choice((0, 0, 1, 2, 7, 8, 9, 0x28, 0x17, 0x5B))
    big = not plain and rng.random() < 0.05
    if code & 0x0F <= 5:
        width = (1, 2, 4)[code % 3]
        start = rng.randrange(1 << 23, 1 << 24) if big and width == 4 else rng.randrange(8)
        count = rng.randrange(1, 6)
        head = bytes([group, variation, code]) + (start).to_bytes(width, "little") + \
            (start + count - 1).to_bytes(width, "little")
    else:
        width = {7: 1, 8: 2, 9: 4, 0xB: 1}[code & 0x0F]
        count = 1 << 23 if big and width == 4 else rng.randrange(1, 4)
        head = bytes([group, variation, code]) + count.to_bytes(width, "little")
    return head + (_objects(rng, group, variation, code >> 4, count) if data and count < 256 else b"")


def _objects(rng: random.Random, group: int, variation: int, prefix: int, count: int) -> bytes:
    """``count`` objects of the header's size (as dnp3.SIZES has it) and prefix: random values."""
    width = dnp3.PREFIX_SIZES[prefix]
    size = dnp3.SIZES.get((group, variation))
    if size is None and prefix >= 4:  # each object is preceded by its own size
        return b"".join(len(data).to_bytes(width, "little") + data
                        for data in (rng.randbytes(rng.randrange(5)) for _ in range(count)))
    if size is None:
        return rng.randbytes(count * (width + variation)) if group in (110, 111) else b""
    if size == 0:  # packed bits
        return rng.randbytes((count * (2 if group in (3, 4) else 1) + 7) // 8)
    return rng.randbytes(count * (width + size))


def _fragment(rng: random.Random, from_master: bool, seq: int, plain: bool = False) -> bytes:
    """An application fragment: requests from the master (reads, selects and operates, confirms,
    restarts …), responses and unsolicited responses from the outstation; ``plain``: with no more
    object headers, nor larger values, than the kernel holds."""
    headers = rng.choice((0, 1, 1, 2, 4, 8 if plain else 9)) if plain or rng.random() < 0.9 else rng.randrange(12)
    if from_master:
        function = rng.choice((0x01, 0x01, 0x01, 0x03, 0x04, 0x05, 0x02, 0x00, 0x0D, 0x14, 0x17, 0x20, 0x5A))
        head = bytes([0xC0 | seq, function])
        data = function not in (0x01, 0x14, 0x15, 0x16)
    else:
        function = rng.choice((0x81, 0x81, 0x81, 0x82, 0x83))
        head = bytes([0xC0 | seq, function]) + struct.pack(">H", rng.choice((0, 0, 0x8000, 0x0002, 0x0100)))
        data = True
    body = b"".join(_header(rng, data, plain) for _ in range(headers))
    if rng.random() < 0.05:  # a reserved prefix (the headers before it are kept), or cut short
        body += b"\x01\x02\x7a" if plain else b"\x01\x02\x0a"
        body = body if plain else body[: rng.randrange(len(body) + 1)]
    return head + body


def _station(rng: random.Random, from_master: bool) -> bytes:
    """A segment's link frames: mostly one whole fragment (transport FIR and FIN), sometimes a
    fragment spread over several frames, link-layer frames, a frame without FIR."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice((REQUEST_LINK_STATUS, link(b"", 0x0B), link(b"", 0x80)))
    fragment = _fragment(rng, from_master, rng.randrange(16))
    if roll < 0.1 or len(fragment) > 249:
        pieces = [fragment[pos : pos + rng.choice((20, 60, 249))] for pos in range(0, len(fragment), 249)]
        pieces = [piece for piece in pieces if piece] or [b""]
        return b"".join(link(bytes([(0x40 if i == 0 else 0) | (0x80 if i == len(pieces) - 1 else 0) | i]) + piece)
                        for i, piece in enumerate(pieces))
    if roll < 0.13:
        return link(bytes([0x80]) + fragment)  # FIN without FIR
    return link(bytes([0xC0]) + fragment, 0xC4 if from_master else 0x44)


def _broken(rng: random.Random, from_master: bool) -> bytes:
    """The station's frames, sometimes broken: a bad start or length, user data of 0-2 bytes."""
    roll = rng.random()
    if roll < 0.02:
        return bytes([0x05, rng.choice((0x64, 0x65)), rng.choice((3, 4, 5, 6))]) + rng.randbytes(7)
    if roll < 0.05:
        return link(bytes([0xC0]) + rng.randbytes(rng.randrange(2)))
    return _station(rng, from_master)


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in DNP3_TRACES])
def test_every_dnp3_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    assert_paths_agree(CORPUS / trace, monkeypatch, "dnp3")


def test_the_corpus_has_dnp3_captures():
    if not CORPUS.exists():
        pytest.skip("corpus not available")
    assert len(DNP3_TRACES) >= 20


@pytest.mark.parametrize("seed", range(3))
def test_random_and_broken_frames_decode_the_same(seed, tmp_path, monkeypatch):
    events, moved, _ = agree_on_fuzz(tmp_path, monkeypatch, fast_dnp3.FastDnp3, "dnp3", seed, 20000,
                                     REQUEST_LINK_STATUS, _broken)
    assert events > 400
    assert moved  # flows moved to Python midway, pending requests and all


def test_fragments_in_one_frame_or_spread_over_frames_stay_compiled_and_decode_the_same(tmp_path, monkeypatch):
    assembled = []
    aside = fast_dnp3.FastDnp3._aside
    monkeypatch.setattr(fast_dnp3.FastDnp3, "_aside", lambda self, *a: assembled.append(1) or aside(self, *a))
    events, moved, path = agree_on_fuzz(tmp_path, monkeypatch, fast_dnp3.FastDnp3, "dnp3", 5, 20000,
                                        REQUEST_LINK_STATUS, _fragments(), segments=60, clean=True)
    assert events > 1500
    assert not moved
    assert len(assembled) > 300  # segments with fragments spread over frames, put together for the kernel
    events = [event for events, *_ in run(path, True, False, monkeypatch) for event in events]
    assert sum("rtt" in event["attrs"] and "reply_objects" in event["attrs"] for event in events) > 300


def test_a_bounded_flow_table_and_the_event_cap_decode_the_same(tmp_path, monkeypatch):
    path = tmp_path / "plain.pcap"
    fuzz_capture(path, 6, 20000, REQUEST_LINK_STATUS, _fragments(), segments=20, clean=True)
    assert agree_bounded(path, monkeypatch, "dnp3", fast_dnp3) > 300


def test_a_flood_of_unfinished_fragments_stays_within_one_budget_on_both_paths(tmp_path, monkeypatch):
    """Many flows start fragments and never finish them (some whole fragments between): the bytes held
    across flows never pass dnp3.MAX_HELD (made small here), fragments past it are given up and counted
    malformed, and both paths agree on all of it."""
    monkeypatch.setattr(dnp3, "MAX_HELD", 32 << 10)
    peaks = {True: 0, False: 0}
    transport, hold = dnp3._transport, fast_dnp3.FastDnp3._hold

    def noting(compiled: bool, call: Callable) -> Callable:
        def noted(*args):
            out = call(*args)
            peaks[compiled] = max(peaks[compiled], dnp3.Held.total)
            return out
        return noted

    monkeypatch.setattr(dnp3, "_transport", noting(False, transport))
    monkeypatch.setattr(fast_dnp3.FastDnp3, "_hold", noting(True, hold))
    path = tmp_path / "flood.pcap"
    fuzz_capture(path, 7, 20000, REQUEST_LINK_STATUS, _unfinished, flows=200, segments=24, clean=True)
    python = run(path, False, False, monkeypatch)
    assert dnp3.Held.total == 0  # the flows ended, their held starts with them
    compiled = run(path, True, False, monkeypatch)
    assert dnp3.Held.total == 0
    assert [(canonical(events), *rest) for events, *rest in compiled] == \
        [(canonical(events), *rest) for events, *rest in python]
    assert dnp3.MAX_HELD // 2 < peaks[False] <= dnp3.MAX_HELD
    assert dnp3.MAX_HELD // 2 < peaks[True] <= dnp3.MAX_HELD
    given_up = sum(errors.get("dnp3", 0) for _, _, errors, *_ in python)
    assert given_up > 100
    assert sum(event["protocol"] == "dnp3" for events, *_ in python for event in events) > 100


def _unfinished(rng: random.Random, from_master: bool) -> bytes:
    """Segments that start a fragment (FIR) or add to it, never finishing it; now and then a whole fragment."""
    roll = rng.random()
    if roll < 0.15:
        return link(bytes([0xC0]) + _fragment(rng, from_master, rng.randrange(16), plain=True)[:240],
                    0xC4 if from_master else 0x44)
    return link(bytes([(0x40 if roll < 0.35 else 0) | rng.randrange(64)]) + rng.randbytes(200))


def _fragments() -> Frame:
    """Fragments with no more object headers, nor larger values, than the kernel holds: most in one
    link frame, some spread over frames, their last frames often in the direction's next segments."""
    rest: dict[bool, list[bytes]] = {True: [], False: []}

    def frame(rng: random.Random, from_master: bool) -> bytes:
        if rest[from_master]:
            return rest[from_master].pop(0)
        fragment = _fragment(rng, from_master, rng.randrange(16), plain=True)
        control = 0xC4 if from_master else 0x44
        if len(fragment) <= 249 and rng.random() < 0.7:
            return link(bytes([0xC0]) + fragment, control)
        size = rng.choice((20, 100, 249))
        pieces = [fragment[pos : pos + size] for pos in range(0, len(fragment), size)]
        frames = [link(bytes([(0x40 if i == 0 else 0) | (0x80 if i == len(pieces) - 1 else 0) | i % 64]) + piece,
                       control) for i, piece in enumerate(pieces)]
        cut = rng.randrange(1, len(frames) + 1)
        rest[from_master] = frames[cut:]
        return b"".join(frames[:cut])

    return frame
