"""The compiled EtherNet/IP-CIP path gives exactly what the Python decoders give: on the simulated
plant, on every EtherNet/IP capture of the corpus and on random, split, truncated and malformed
payloads — enip and cip events one per PDU and folded (tag names included), observations (Identity
answers, direct and routed to a module), malformed counts and flow services — including flows that
move to the Python path midway with their pending and Identity requests."""

from __future__ import annotations

import itertools
import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cpython_hash import cpython_hashes
from fastpaths import (  # noqa: F401 (plant: a fixture)
    CLIENT, CORPUS, SERVER, T0, agree_on_fuzz, assert_paths_agree, fuzz_capture, moves, plant, run, write_capture)

from sensor.decode.fast import enip as kernel
from sensor.decode.fast import modbus as pending
from sensor.decode.fast import siphash
from sensor.meter import applayer, fast_enip
from sensor.simulate import CIP_GET_IDENTITY, CIP_READ_TAG, cip_identity_reply, enip, enip_rr, tcp_frame

ENIP_TRACES = sorted(p for p in [*(CORPUS / "ics-pcap/EIP").glob("*/*.pcap"),
                                 *(CORPUS / "icsnpp/enip/traces").glob("*"),
                                 *(CORPUS / "iti/EthernetIP").glob("*.pcap"), CORPUS / "ndpi/ethernetIP.pcap",
                                 CORPUS / "ndpi/cip_io.pcap"] if p.exists() and p.suffix in (".pcap", ".pcapng"))
REGISTER = enip(0x65, 0, b"\x01\x00\x00\x00")
TAGS = (b"Tank_Level", b"Program:Main", b"Valve_3", b"", b"x" * 41, b"T\xe4nk")
COMMANDS = (0x0001, 0x0004, 0x0065, 0x0066, 0x0072, 0x0000)


class Messages:
    """Random encapsulation messages; ``broken``: often unusual or broken ones too (damaged headers,
    CPF items cut short, EPATH segments the decoder refuses, List Identity, CIP I/O …), else only
    messages the kernel takes, of every kind it takes."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken

    def odd(self, rng: random.Random, p: float) -> bool:
        return self.broken and rng.random() < p

    def path(self, rng: random.Random) -> bytes:
        """An EPATH (its size in words first): symbolic tags, logical class/instance/attribute/member
        of each size, port segments."""
        segments = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            roll = rng.random()
            if roll < 0.45:
                tag = rng.choice(TAGS)
                segments.append(bytes([0x91, len(tag)]) + tag + b"\x00" * (len(tag) & 1))
            elif roll < 0.85:
                kind, size = rng.choice((0x20, 0x24, 0x24, 0x28, 0x30, 0x2C)), rng.choice((0, 0, 1, 2))
                value = rng.choice((1, 1, 2, 0x6B, 0x300, 70000))
                segments.append(bytes([kind | size]) + (bytes([value & 0xFF]) if size == 0 else b"\x00" + (
                    struct.pack("<H", value & 0xFFFF) if size == 1 else struct.pack("<I", value))))
            elif roll < 0.95 or not self.broken:
                segments.append(rng.choice((b"\x01\x00", b"\x12\x02\x0a\x0b", b"\x12\x03abc\x00")))
            elif rng.random() < 0.3:
                segments.append(rng.choice((b"\x34\x00", b"\x23\x00", b"\x91")))
        path = b"".join(segments)
        path += b"\x00" * (len(path) & 1)
        return bytes([len(path) // 2 + (rng.choice((1, -1)) if self.odd(rng, 0.04) else 0) & 0xFF]) + path

    def request(self, rng: random.Random, depth: int = 0) -> bytes:
        """Read/Write Tag, Identity requests (all, single, list), Unconnected Send to a module,
        Multiple Service Packet, anything else."""
        roll = rng.random()
        if roll < 0.35:
            return bytes([rng.choice((0x4C, 0x4D, 0x52, 0x4E))]) + self.path(rng) + rng.randbytes(rng.choice((0, 2, 4)))
        if roll < 0.5:
            service = rng.choice((0x01, 0x0E, 0x03, 0x05))
            data = b""
            if service == 0x03:
                ids = [rng.choice((1, 2, 3, 4, 5, 6, 7, 0x65, 200 if self.broken else 9))
                       for _ in range(rng.choice((1, 2, 7)))]
                ids += [1] if self.odd(rng, 0.2) else []
                data = struct.pack(f"<H{len(ids)}H", len(ids), *ids)[: 1 if self.odd(rng, 0.2) else 99]
            path = rng.choice((b"\x02\x20\x01\x24\x01", b"\x01\x20\x01", b"\x02\x20\x01\x24\x02",
                               b"\x03\x20\x01\x24\x01\x30\x07", b"\x03\x20\x01\x24\x01\x30\x64"))
            return bytes([service]) + path + data
        if roll < 0.65:
            inner = rng.choice((CIP_GET_IDENTITY, b"\x0e\x03\x20\x01\x24\x01\x30\x01", b"\x4c" + self.path(rng),
                                b"\x0a\x00" if self.broken else b"\x4d\x00"))
            route = rng.choice((b"\x01\x00\x01\x03", b"\x01\x00\x02\x00", b"\x00\x00", b"\x02\x00\x12\x02",
                                b"\x01\x00\x01\x50" if self.broken else b"\x01\x00\x03\x3f"))
            body = b"\x07\xe9" + struct.pack("<H", len(inner)) + inner + b"\x00" * (len(inner) & 1) + route
            return b"\x52\x02\x20\x06\x24\x01" + body[: rng.choice((3, 9)) if rng.random() < 0.1 else 99]
        if roll < 0.8 and depth == 0:
            return self.multiple([self.request(rng, 1) for _ in range(rng.choice((1, 2, 3)))], rng,
                                 b"\x0a\x02\x20\x02\x24\x01")
        service = rng.randrange(0x80)
        return bytes([service if service != 0x0A or self.broken else 0x0B]) + self.path(rng) + \
            rng.randbytes(rng.randrange(4))

    def multiple(self, parts: list[bytes], rng: random.Random, head: bytes) -> bytes:
        """A Multiple Service Packet: count, offsets, the services."""
        offsets, at = [], 2 + 2 * len(parts)
        for part in parts:
            offsets.append(at)
            at += len(part)
        if self.odd(rng, 0.05):
            offsets.reverse()
        return head + struct.pack(f"<H{len(parts)}H", len(parts), *offsets) + b"".join(parts)

    def response(self, rng: random.Random, depth: int = 0) -> bytes:
        """Identity answers (whole, cut short, listed), Read Tag data, statuses and extended statuses,
        Multiple Service Packet answers."""
        roll = rng.random()
        if roll < 0.25:
            if rng.random() < 0.2:
                return b"\x83\x00\x00\x00\x02\x00" + struct.pack("<HHH", 7, 0, 1) + b"\x00" + \
                    bytes([rng.randrange(20)]) + b"PLC" + struct.pack("<HHH", 1, 0, 1) + b"\x00"
            answer = cip_identity_reply(rng.randrange(1 << 32), rng.choice(((33, 11), (34, 1))))
            return bytes([rng.choice((0x81, 0x8E, 0x83, 0x81))]) + answer[1 : rng.choice((12, 20, 99, 99))]
        if roll < 0.4 and depth == 0:
            parts = [self.response(rng, 1) for _ in range(rng.choice((1, 2, 3)))]
            return self.multiple(parts, rng, bytes([0x8A, 0, rng.choice((0, 0, 0x1E, 0x08)), 0]))
        status, extra = rng.choice((0, 0, 0, 0x06, 0x05, 0x1E, 0x99)), rng.choice((0, 0, 0, 1))
        message = bytes([rng.choice((0xCC, 0xCD, 0xD2, 0x81, 0x8E, 0x83, 0xC4)), 0, status, extra]) + \
            rng.randbytes(2 * extra) + rng.randbytes(rng.choice((0, 2, 6)))
        return message[: rng.choice((3, 5)) if self.odd(rng, 0.1) else 99]

    def frame(self, rng: random.Random, from_client: bool) -> bytes:
        """Commands, Send RR Data and Send Unit Data carrying CIP (from either side) with sender
        contexts and sequence counts that pair some of them."""
        roll, session = rng.random(), rng.choice((0x1234, 0x1234, 0))
        if roll < 0.12:
            data = rng.choice((b"", b"", b"\x01\x00\x00\x00"))
            message = struct.pack("<HHII8sI", rng.choice(COMMANDS), len(data), session,
                                  rng.choice((0, 0, 0, 1, 0x64)), self.context(rng), 0) + data
        elif roll < 0.14 and self.broken:
            message = rng.choice((enip(0x63, 0, b""), enip(0x63, 0, b"\x01\x00\x0c\x00\x02\x00\x01\x00"),
                                  struct.pack("<HHHH", 2, 0x8002, 8, 0) + rng.randbytes(8) +
                                  b"\xb1\x00\x02\x00\x01\x00"))
        else:
            cip = self.request(rng) if from_client == (rng.random() < 0.93) else self.response(rng)
            if rng.random() < 0.6:
                command, items = 0x6F, [(0, b""), (0xB2, cip)]
            else:
                command, items = 0x70, [(0xA1, b"\x01\x00\x00\x00"), (0xB1, struct.pack("<H", rng.randrange(3)) + cip)]
            if rng.random() < 0.05:
                items.reverse()
            if rng.random() < 0.03:
                items = items[:1]
            cpf = struct.pack("<H", len(items)) + b"".join(struct.pack("<HH", kind, len(body)) + body
                                                           for kind, body in items)
            data = struct.pack("<IH", 0, 10) + cpf[: rng.choice((1, 7)) if self.odd(rng, 0.06) else 9999]
            message = struct.pack("<HHII8sI", command, len(data), session, 0, self.context(rng), 0) + data
        if self.odd(rng, 0.03):  # a damaged header
            at = rng.randrange(24)
            message = message[:at] + rng.randbytes(1) + message[at + 1 :]
        return message

    def context(self, rng: random.Random) -> bytes:
        """Sender contexts: mostly counters under one high half, sometimes zero (or another high
        half, a text: more values than a flow's slots hold)."""
        if rng.random() < 0.9:
            return struct.pack("<II", rng.randrange(3), 0x00E108B8)
        return rng.choice((bytes(8), struct.pack("<II", rng.randrange(3), 7), b"_pycomm_") if self.broken else
                          (bytes(8),))


@pytest.mark.parametrize("table", [{}, {"max_flows": 64}], ids=["whole", "bounded"])
def test_the_simulated_plant_decodes_the_same(table, plant, monkeypatch):
    """Also with a bounded flow table: slots of evicted and ended flows are reused by other flows,
    which the compiled path follows."""
    assert assert_paths_agree(plant, monkeypatch, "cip", **table) > 500


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in ENIP_TRACES] or ["(no corpus)"])
def test_every_enip_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    if not ENIP_TRACES:
        pytest.skip("corpus not available")
    assert len(ENIP_TRACES) >= 20
    assert_paths_agree(CORPUS / trace, monkeypatch, "cip")


def _agree(tmp_path, monkeypatch, seed: int, frame: Callable[[random.Random, bool], bytes],
           **capture) -> tuple[int, list[int], Path]:
    """fastpaths.agree_on_fuzz on EtherNet/IP flows opened by Register Session: (their cip events, the
    fids of flows moved to Python, the capture)."""
    return agree_on_fuzz(tmp_path, monkeypatch, fast_enip.FastEnip, "cip", seed, 44818, REGISTER, frame, **capture)


@pytest.mark.parametrize("seed", range(3))
def test_random_and_broken_payloads_decode_the_same(seed, tmp_path, monkeypatch):
    events, moved, _ = _agree(tmp_path, monkeypatch, seed, Messages(broken=True).frame)
    assert events > 300
    assert moved  # flows moved to Python midway, pending and Identity requests and all


def _smallest_tables(monkeypatch) -> None:
    """The compiled path starts with tables of one or two rows (grown as its kernel asks)."""
    init = fast_enip.FastEnip.__init__

    def small(self, *args) -> None:
        init(self, *args)
        self._events, self._jobs, self._keys, self._vals = self._events[:1], self._jobs[:1], self._keys[:2], \
            self._vals[:2]
        self._asked_keys, self._asked_vals, self._tag_keys, self._tag_vals = self._asked_keys[:2], \
            self._asked_vals[:2], self._tag_keys[:2], self._tag_vals[:2]
        self._tag_at, self._arena = self._tag_at[:1], self._arena[:1]

    monkeypatch.setattr(fast_enip.FastEnip, "__init__", small)


@pytest.mark.parametrize("seed", range(2))
def test_random_payloads_the_kernel_takes_throughout_decode_the_same(seed, tmp_path, monkeypatch):
    """Seed 1 with the smallest tables."""
    if seed:
        _smallest_tables(monkeypatch)
    events, moved, _ = _agree(tmp_path, monkeypatch, seed, Messages(broken=False).frame, segments=80, clean=True)
    assert events > 1000
    assert not moved


def test_events_over_the_cap_are_dropped_and_counted_as_the_python_path_does(tmp_path, monkeypatch):
    """On flows the kernel follows throughout (a flow moving to Python brings its events along,
    which the Python path's cap counts again); answers to dropped requests add no event."""
    monkeypatch.setattr(fast_enip, "MAX_EVENTS", 30)  # (cip's cap on both paths)
    *_, path = _agree(tmp_path, monkeypatch, 7, Messages(broken=False).frame, flows=20, segments=80, clean=True)
    intervals = run(path, True, False, monkeypatch)
    assert all(len(events) <= 30 for events, *_ in intervals) and sum(n for *_, n in intervals) > 1000


def test_tag_names_filed_under_one_hash_stay_apart():
    """The tag table compares a name's bytes, not only its hash."""
    keys, vals = np.full(16, -1, np.int64), np.zeros(16, np.int64)
    at, arena, cnt = np.zeros((8, 2), np.int64), np.zeros(64, np.uint8), np.zeros(kernel.COUNTERS, np.int64)
    tank, valve = (np.frombuffer(name.ljust(16, b"\0"), np.uint8) for name in (b"Tank", b"Valve"))
    assert kernel._intern(tank, 4, keys, vals, at, arena, cnt) == 0
    keys.fill(-1)
    kernel._place(keys, vals, kernel._hash(valve, 0, 5, cnt), 0)  # "Tank" filed under the hash of "Valve"
    assert kernel._intern(valve, 5, keys, vals, at, arena, cnt) == 1
    assert kernel._intern(valve, 5, keys, vals, at, arena, cnt) == 1
    assert arena[at[1, 0] : at[1, 0] + 5].tobytes() == b"Valve" and cnt[kernel.C_TAGS] == 2


# -- hostile tag names: memory, hash, faults ----------------------------------------------------

ANSWER = b"\xcc\x00\x00\x00\xc4\x00\x01\x00\x00\x00"  # Read Tag's answer
READ_TAG_ANSWER = enip(0x6F, 1, enip_rr(ANSWER))


def _read_tag(name: bytes) -> bytes:
    path = bytes([0x91, len(name)]) + name + b"\x00" * (len(name) & 1)
    return enip(0x6F, 1, enip_rr(bytes([0x4C, len(path) // 2]) + path + b"\x01\x00"))


class NewNames:
    """Read Tag requests, each naming a tag no request named before (of ``lengths`` bytes), and answers."""

    def __init__(self, lengths: tuple[int, int]) -> None:
        self.lengths, self.sent = lengths, 0

    def frame(self, rng: random.Random, from_client: bool) -> bytes:
        if not from_client:
            return READ_TAG_ANSWER
        self.sent += 1
        return _read_tag((b"t%06d_" % self.sent).ljust(rng.randint(*self.lengths), b"x"))


def _tables_at_flush(monkeypatch) -> list[dict]:
    """The compiled path's tag tables at each interval's end (filled during runs): tags and bytes
    interned (in all, and this interval), events kept, table sizes, names in Python, the hash table."""
    seen: list[dict] = []
    flush = fast_enip.FastEnip.flush
    left: dict[fast_enip.FastEnip, int] = {}  # tags interned after the last flush, by path (kept alive)

    def spy(self, fold: bool) -> list[dict]:
        cnt = self._cnt
        seen.append({"tags": cnt[kernel.C_TAGS], "new": cnt[kernel.C_TAGS] - left.get(self, 0),
                     "bytes": cnt[kernel.C_ARENA], "kept": cnt[kernel.C_EVENTS], "tag_at": len(self._tag_at),
                     "tag_keys": len(self._tag_keys), "arena": len(self._arena), "names": len(self._tags),
                     "keys": self._tag_keys.copy()})
        rows = flush(self, fold)
        left[self] = cnt[kernel.C_TAGS]
        return rows

    monkeypatch.setattr(fast_enip.FastEnip, "flush", spy)
    return seen


def test_tags_of_requests_dropped_over_the_cap_are_not_interned(tmp_path, monkeypatch):
    names = NewNames((20, 60))
    monkeypatch.setattr(fast_enip, "MAX_EVENTS", 40)  # (cip's cap on both paths)
    seen = _tables_at_flush(monkeypatch)
    _agree(tmp_path, monkeypatch, 1, names.frame, flows=20, segments=60, clean=True)
    assert names.sent > 20 * 40 and seen
    assert all(0 < at["new"] <= at["kept"] <= 40 for at in seen), [(at["new"], at["kept"]) for at in seen]


@pytest.mark.parametrize("max_tags, max_arena, lengths", [(24, 1 << 22, (4, 12)), (1 << 16, 600, (100, 200))],
                         ids=["names", "bytes"])
def test_tag_tables_never_pass_their_caps(max_tags, max_arena, lengths, tmp_path, monkeypatch):
    """From tables of one row, distinct names far past a cap within an interval: the tables stop at
    the caps, and the flows that would pass them go on in Python, with the same output."""
    _smallest_tables(monkeypatch)
    monkeypatch.setattr(fast_enip, "MAX_TAGS", max_tags)
    monkeypatch.setattr(fast_enip, "MAX_ARENA", max_arena)
    names, seen = NewNames(lengths), _tables_at_flush(monkeypatch)
    _, moved, _ = _agree(tmp_path, monkeypatch, 2, names.frame, flows=12, segments=60, clean=True)
    assert names.sent > 10 * min(max_tags, max_arena // lengths[1]) and moved and seen
    for at in seen:
        assert 0 < at["tags"] == at["names"] <= max_tags and at["bytes"] <= max_arena, at
        assert at["tag_at"] <= max_tags and at["tag_keys"] <= 4 * max_tags and at["arena"] <= max_arena, at


def test_tag_names_are_forgotten_at_an_interval_end_past_half_a_cap(tmp_path, monkeypatch):
    """20 names in turn under a cap of 24: no flow moves, and every interval starts with no name
    (its rows then name tags numbered anew), with the same output."""
    monkeypatch.setattr(fast_enip, "MAX_TAGS", 24)
    seen = _tables_at_flush(monkeypatch)
    _, moved, _ = _agree(tmp_path, monkeypatch, 6, lambda rng, client: _read_tag(b"pool_%02d" % rng.randrange(20))
                         if client else READ_TAG_ANSWER, flows=6, segments=150, clean=True)
    assert not moved and len(seen) >= 4
    assert all(12 < at["new"] == at["tags"] <= 20 for at in seen), [(at["new"], at["tags"]) for at in seen]


def test_tag_names_hash_as_cpythons_siphash_of_bytes():
    """The tag table's hash is SipHash-1-3 of the name's bytes, CPython's own when its key is zero."""
    rng = random.Random(5)
    names = [rng.randbytes(n) for n in range(1, 26)]
    ours = [int(siphash.hash_bytes(np.uint64(0), np.uint64(0), np.frombuffer(b"--" + name, np.uint8), 2, len(name)))
            for name in names]  # (at an offset, as in the arena)
    assert cpython_hashes(names) == ours


def _fnv_keys(names: np.ndarray) -> np.ndarray:
    """The public hash the tag table had, of each name (a row of bytes): FNV-1a, 62 bits."""
    h = np.full(len(names), 14695981039346656037, np.uint64)
    for column in names.T:
        h = (h ^ column) * np.uint64(1099511628211)
    return (h >> np.uint64(2)).astype(np.int64)


def _homes(keys: np.ndarray, bits: int) -> np.ndarray:
    """modbus._slot of each key in a table of 2**bits slots, vectorised."""
    x = keys.copy()
    x ^= x >> 17
    x *= 0xED5AD4BB
    x ^= x >> 11
    x *= 0xAC4C1B51
    x ^= x >> 15
    return x & ((1 << bits) - 1)


def test_names_crafted_to_share_one_home_spread_over_the_table(tmp_path, monkeypatch):
    """300 names that all share one home of any table up to 4,096 slots under the public hash: under
    the keyed one every lookup stays short, and the output is the Python path's."""
    index = np.arange(1_190_000)  # (the 300th such name is the 1,189,041st)
    candidates = np.stack([np.full(len(index), c) for c in b"tag"] +
                          [index // 10**p % 10 + 48 for p in range(7, -1, -1)], axis=1).astype(np.uint8)
    crafted = candidates[_homes(_fnv_keys(candidates), 12) == 0][:300]
    table = np.empty(1 << 12, np.int64)
    assert len(crafted) == 300 and {pending._slot(table, key) for key in _fnv_keys(crafted).tolist()} == {0}
    names = itertools.cycle(name.tobytes() for name in crafted)
    seen = _tables_at_flush(monkeypatch)
    _agree(tmp_path, monkeypatch, 3, lambda rng, client: _read_tag(next(names)) if client else READ_TAG_ANSWER,
           flows=3, segments=250, clean=True)
    assert max(at["tags"] for at in seen) == 300
    for at in seen:
        keys = at["keys"]
        assert len(keys) <= 4096
        probes = [(i - pending._slot(keys, key)) % len(keys) for i, key in enumerate(keys.tolist()) if key >= 0]
        assert max(probes) < 32, sorted(probes)[-10:]


def test_a_fault_registering_a_compiled_flow_is_raised_not_taken_for_malformed_input(tmp_path, monkeypatch):
    """A state row that does not fit the flow table (our fault: a ValueError) stops the run; the
    detection's malformed-input handler once swallowed it and the flow silently decoded nothing."""
    path = tmp_path / "one.pcap"
    fuzz_capture(path, 4, 44818, REGISTER, Messages(broken=False).frame, flows=1, segments=4, clean=True)
    monkeypatch.setattr(kernel, "INITIAL", kernel.INITIAL[:-1])
    with pytest.raises(ValueError, match="broadcast"):
        run(path, True, False, monkeypatch)
    assert run(path, False, False, monkeypatch)  # the Python path registers no compiled flow


def _live_by_slot(table: np.ndarray, flows: int) -> np.ndarray:
    """How many keys of each flow a pending-style table holds under each context slot (Send Unit
    Data keys, made under no slot, aside)."""
    keys = table[table >= 0]
    keys = keys[(keys >> 40 & 7) != kernel.K_UNIT]
    counts = np.zeros((flows, kernel.CTX_SLOTS), np.int64)
    np.add.at(counts, (keys >> kernel.FID_SHIFT, keys >> kernel.CTX_SHIFT & 3), 1)
    return counts


def test_the_flows_counts_of_keys_by_context_slot_are_what_the_tables_hold(tmp_path, monkeypatch):
    """After every chunk and at every interval's end, on random and broken payloads (flows moving to
    Python, Identity requests kept across intervals): each flow's F_LIVE… and F_LIVE_ASKED… counts."""
    checked = []
    tell, flush = fast_enip.FastEnip._tell_services, fast_enip.FastEnip.flush

    def check(self) -> None:
        n, live = len(self.ends), [f for f in range(len(self.ends)) if f not in self._free]
        for column, table in ((kernel.F_LIVE, self._keys), (kernel.F_LIVE_ASKED, self._asked_keys)):
            assert (self._flows[live, column : column + kernel.CTX_SLOTS] == _live_by_slot(table, n)[live]).all()
        checked.append(int(self._flows[live, kernel.F_LIVE : kernel.F_LIVE_ASKED + kernel.CTX_SLOTS].sum()))

    monkeypatch.setattr(fast_enip.FastEnip, "_tell_services", lambda self: check(self) or tell(self))
    monkeypatch.setattr(fast_enip.FastEnip, "flush", lambda self, fold: check(self) or flush(self, fold))
    events, moved, _ = _agree(tmp_path, monkeypatch, 1, Messages(broken=True).frame)
    assert events > 300
    assert moved and len(checked) >= 6 and max(checked) > 0


def _context_flood(path, filler: int, pairs: int) -> None:
    """``filler`` flows of 256 unanswered Read Tag requests each (32 to a segment), then a flow of
    ``pairs`` requests, each with new sender-context high bits, and their answers: its four slots
    are soon taken by contexts no key is pending under, so each request must find one free."""
    frames = []

    def flow(port: int, messages: list[tuple[bool, bytes]]) -> None:
        seq = {True: 1000, False: 5000}
        for from_client, payload in messages:
            src, dst, ports = (CLIENT, SERVER, (port, 44818)) if from_client else (SERVER, CLIENT, (44818, port))
            frames.append(tcp_frame(src, dst, *ports, seq[from_client], 1, 0x18, payload))
            seq[from_client] += len(payload)

    def message(low: int, high: int, cip: bytes) -> bytes:
        data = enip_rr(cip)
        return struct.pack("<HHIIIII", 0x6F, len(data), 1, 0, low, high, 0) + data

    read = _read_tag(b"a")[24 + 16 :]  # its CIP request
    for f in range(filler):
        flow(20000 + f, [(True, REGISTER)] + [(True, b"".join(message(s * 32 + i, 0, read) for i in range(32)))
                                              for s in range(8)])
    flow(19999, [(True, REGISTER)] + [(client, message(i, i + 1, read if client else ANSWER))
                                      for i in range(pairs) for client in (True, False)])
    write_capture(path, ((T0 + n, frame, None) for n, frame in enumerate(frames)))


LINES_IN_KERNEL = """
import sys, warnings
warnings.simplefilter("ignore")  # (numpy scalars wrap SipHash's arithmetic with a warning)
from sensor.decode.fast import enip
from sensor.meter.pipeline import iter_intervals
lines = 0
def count(frame, event, arg):
    global lines
    lines += event == "line"
    return count
out = []
for path in sys.argv[1:]:
    lines = 0
    sys.settrace(lambda frame, event, arg: count if frame.f_code.co_filename == enip.__file__ else None)
    list(iter_intervals([path]))
    sys.settrace(None)
    out.append(lines)
print(out)
"""


def test_a_flood_of_new_sender_contexts_costs_each_request_the_same_whatever_other_flows_hold(tmp_path,
                                                                                               monkeypatch):
    """Each request of the flood takes a slot by the flow's counts, never by looking through the pending
    and Identity tables, which other flows' unanswered requests fill: the lines the kernel runs (as
    plain Python, counted by a tracer) per request/answer pair are few, and as many with 2,048
    requests of other flows pending as with none. (It once scanned both tables: 16,000 lines a pair,
    25,000 with the filler.)"""
    pairs, paths = 20, []
    for filler in (8, 0):
        for flood in (0, pairs):
            paths.append(tmp_path / f"flood-{filler}-{flood}.pcap")
            _context_flood(paths[-1], filler, flood)
    run = subprocess.run([sys.executable, "-c", LINES_IN_KERNEL, *map(str, paths)], capture_output=True, text=True,
                         env={**os.environ, "NUMBA_DISABLE_JIT": "1"})
    assert run.returncode == 0, run.stderr
    filled_before, filled, empty_before, empty = eval(run.stdout)
    per_pair, per_pair_filled = (empty - empty_before) / pairs, (filled - filled_before) / pairs
    assert per_pair < 1000 and abs(per_pair_filled - per_pair) < 5, (per_pair, per_pair_filled)
    moved = moves(monkeypatch, fast_enip.FastEnip)
    assert assert_paths_agree(paths[1], monkeypatch, "cip") == 8 * 256 + pairs  # (an answer joins its request)
    assert not moved  # the kernel took every request
