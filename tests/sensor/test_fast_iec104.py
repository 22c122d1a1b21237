"""The compiled IEC 104 path gives exactly what the Python decoder gives: on every IEC 104 capture of
the corpus and on random, split, truncated and malformed APDUs — events one per PDU and folded
(commands with their confirmations and terminations), services served, malformed counts and flow
services — including flows that move to the Python path midway, over the event cap and with a
bounded flow table. (The simulated plant has no IEC 104.)"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import numpy as np
import pytest
from fastpaths import CORPUS, agree_bounded, agree_on_fuzz, assert_paths_agree, fuzz_capture, run

from sensor.meter import fast_iec104
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

IEC104_TRACES = sorted(p for p in [CORPUS / "ics-pcap/IEC_60870/IEC104_SQ/IEC104_SQ.pcapng",
                                   CORPUS / "ndpi/iec60780-5-104.pcap", CORPUS / "ndpi/IEC104.pcap",
                                   *(CORPUS / "iti/IEC60870-5-104").glob("*.pcap")] if p.exists())
STARTDT_ACT = bytes.fromhex("680407000000")
COMMANDS = (45, 46, 50, 100, 101, 103)  # single/double command, set point, interrogation, counter, clock
MONITOR = (1, 3, 9, 13, 30, 36, 200)  # (200: no such type)


def _apdu(asdu: bytes, rng: random.Random) -> bytes:
    control = struct.pack("<HH", rng.randrange(1 << 15) << 1, rng.randrange(1 << 15) << 1)
    return bytes([0x68, 4 + len(asdu)]) + control + asdu


def _asdu(kind: int, common: int, ioa: int, cause: int, rng: random.Random) -> bytes:
    variable = rng.choice((1, 1, 2, 0x85))
    return struct.pack("<BBBBH", kind, variable, cause, rng.choice((0, 0, 3)), common) + \
        ioa.to_bytes(3, "little") + rng.randbytes(rng.choice((1, 3, 5)))


def _station() -> Callable[[random.Random, bool], bytes]:
    """APDUs of a station's routine: commands (on a few points) often confirmed, then terminated,
    by the next APDUs the other way, or answered negatively or not at all; monitored values,
    U- and S-frames."""
    asked: list[tuple[int, int, int]] = []

    def frame(rng: random.Random, from_client: bool) -> bytes:
        roll = rng.random()
        if roll < 0.1:
            return bytes([0x68, 4, rng.choice((0x07, 0x0B, 0x13, 0x23, 0x43, 0x83, 0x33)), 0, 0, 0])
        if roll < 0.15:
            return bytes([0x68, 4, 0x01, 0]) + struct.pack("<H", rng.randrange(1 << 15) << 1)
        point = (rng.choice(COMMANDS), rng.choice((1, 2)), rng.choice((0, 1001, 1002)))
        if from_client:
            cause = rng.choice((6, 6, 6, 8, 5))
            asked.append(point)
        elif asked and rng.random() < 0.8:
            point = asked[-1] if rng.random() < 0.8 else rng.choice(asked)
            cause = rng.choice((7, 7, 7, 10, 10, 9, 44, 45, 46, 47))
            if cause == 10 or rng.random() < 0.1:
                asked.remove(point)
        else:
            point = (rng.choice(MONITOR), *point[1:])
            cause = rng.choice((3, 1, 20))
        if rng.random() < 0.05:
            cause |= rng.choice((0x40, 0x80))
        return _apdu(_asdu(*point, cause, rng), rng)

    return frame


def _broken(station: Callable[[random.Random, bool], bytes]) -> Callable[[random.Random, bool], bytes]:
    """The station's APDUs, sometimes broken: a short ASDU, a wrong start byte or length."""

    def frame(rng: random.Random, from_client: bool) -> bytes:
        roll = rng.random()
        if roll < 0.03:
            return bytes([0x68, rng.choice((4, 5, 8, 12))]) + rng.randbytes(12)[: rng.choice((4, 5, 8, 12))]
        if roll < 0.05:
            return bytes([rng.choice((0x68, 0x67)), rng.choice((2, 3, 254, 255, 6))]) + rng.randbytes(6)
        return station(rng, from_client)

    return frame


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in IEC104_TRACES])
def test_every_iec104_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    assert assert_paths_agree(CORPUS / trace, monkeypatch, "iec104") > 0


def test_the_corpus_has_iec104_captures_from_three_sources():
    sources = {path.relative_to(CORPUS).parts[0] for path in IEC104_TRACES}
    assert sources == {"ics-pcap", "ndpi", "iti"} or not CORPUS.exists()


@pytest.mark.parametrize("seed", range(3))
def test_random_and_broken_apdus_decode_the_same(seed, tmp_path, monkeypatch):
    events, moved, _ = agree_on_fuzz(tmp_path, monkeypatch, fast_iec104.FastIec104, "iec104", seed, 2404, STARTDT_ACT,
                                     _broken(_station()))
    assert events > 500
    assert moved  # flows moved to Python midway, pending commands and all


def test_a_station_s_routine_stays_compiled_and_decodes_the_same(tmp_path, monkeypatch):
    events, moved, path = agree_on_fuzz(tmp_path, monkeypatch, fast_iec104.FastIec104, "iec104", 7, 2404,
                                        STARTDT_ACT, _station(), segments=80, clean=True)
    assert events > 2000
    assert not moved
    events = [event for events, *_ in run(path, True, False, monkeypatch) for event in events]
    assert sum("term_rtt" in event["attrs"] for event in events) > 20  # commands confirmed, then terminated
    assert sum(event["attrs"].get("reply") == "actcon" for event in events) > 100


def test_a_bounded_flow_table_and_the_event_cap_decode_the_same(tmp_path, monkeypatch):
    """Slots of evicted flows are reused by others; events over the cap are dropped and counted,
    their commands still pending (a confirmation, then a termination, adds no event)."""
    path = tmp_path / "plain.pcap"
    fuzz_capture(path, 8, 2404, STARTDT_ACT, _station(), segments=20, clean=True)
    assert agree_bounded(path, monkeypatch, "iec104", fast_iec104) > 500


def test_a_flow_past_the_pending_keys_reach_goes_on_in_python():
    """Pending keys hold 14 bits of flow id: the 16,385th IEC 104 flow held at once is not taken."""
    table = FlowTable()
    path = fast_iec104.FastIec104(Facts(), table)
    for n in range(fast_iec104.k.MAX_FID - 1):
        path.add((f"C{n}", "10.0.0.1", "10.0.0.2", 2404), 0)
    last, beyond = path.add(("Cl", "10.0.0.1", "10.0.0.2", 2404), 1), path.add(("Cb", "10.0.0.3", "10.0.0.2", 2404), 2)
    assert beyond == fast_iec104.k.MAX_FID
    buf = np.frombuffer(STARTDT_ACT * 2, np.uint8)
    moved = []
    path.packets(buf, np.array([last, beyond]), np.array([True, True]), np.zeros(2, np.int64), np.array([0, 6]),
                 np.array([6, 6]), np.array([6, 12]), np.array([1, 1]), lambda fid, positions: moved.append(fid))
    assert moved == [beyond]
    assert table.service(1) == "iec104"
    assert [row["action"] for row in path.flush(False)] == ["STARTDT act"]
