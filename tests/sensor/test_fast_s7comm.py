"""The compiled S7comm path gives exactly what the Python decoder gives: on the simulated plant, on
every S7comm capture of the corpus and on random, split, fragmented, truncated and malformed
payloads — events one per PDU and folded, observations (SZL identities, services served),
malformed counts and flow services — including flows that move to the Python path midway."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from fastpaths import CORPUS, assert_paths_agree, fuzz_capture, plant, run  # noqa: F401 (plant: a fixture)

from sensor.meter import applayer, fast_s7comm
from sensor.simulate import (COTP_CC, COTP_CR, S7_INSERT_BLOCK, S7_REQUEST_DOWNLOAD, S7_SETUP, S7_START,
                             S7_STOP, s7_identity_answers, tpkt_cotp_data)

S7_TRACES = sorted(p for p in [*(CORPUS / "ics-pcap/S7").glob("*/*.pcap"),
                               *(CORPUS / "icsnpp/s7comm/traces").glob("*.pcap"), CORPUS / "iti/s7/s7comm_clean.pcap",
                               CORPUS / "ndpi/s7comm.pcap", CORPUS / "ndpi/s7comm-plus.pcap"] if p.exists())
IDENTITY = ("6ES7 315-2EH14-0AB0", (3, 2, 8), "Station 1", "PLC_1", "S C-X4U421302009", "CPU 315-2 PN/DP")


def _item(rng: random.Random) -> bytes:
    """An S7ANY item (sometimes not one) of a Read/Write Variable job."""
    if rng.random() < 0.15:
        return bytes([rng.choice((0x12, 0x10)), rng.randrange(12), rng.choice((0x10, 0xB0))]) + rng.randbytes(
            rng.randrange(10))
    area = rng.choice((0x81, 0x82, 0x83, 0x84, 0x84, 0x1C, 0x99))
    return bytes([0x12, 0x0A, 0x10, 0x02]) + struct.pack("!HH", 16, rng.randrange(4)) + bytes([area, 0, 0, 0])


def _job(rng: random.Random, ref: int) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        items = [_item(rng) for _ in range(rng.choice((1, 1, 2, 3, 6)))]
        params = bytes([rng.choice((0x04, 0x05)), len(items) + rng.choice((0, 0, 0, 1))]) + b"".join(items)
    else:
        params = rng.choice((S7_SETUP, S7_STOP, S7_START, S7_INSERT_BLOCK, S7_REQUEST_DOWNLOAD, b"\x1b\x00",
                             bytes([rng.randrange(256)]), b"", S7_SETUP[:5]))
    return struct.pack("!BBHHHH", 0x32, 1, 0, ref, len(params), 0) + params


def _answer(rng: random.Random, ref: int) -> bytes:
    params = rng.choice((b"\x04\x01", b"\x05\x01", S7_SETUP, b"\x29", b"", b"\x28"))
    error = rng.choice((0, 0, 0, 0x8104, 0x8500, 0x0110))
    return struct.pack("!BBHHHHH", 0x32, rng.choice((2, 3, 3)), 0, ref, len(params), 0, error) + params


def _userdata(rng: random.Random, ref: int, from_client: bool) -> bytes:
    group, sub = rng.choice(((4, 1), (4, 1), (7, 1), (3, 1), (4, 2), (9, 9)))
    kind = rng.choice((4, 4, 0)) if from_client else rng.choice((8, 8, 0, 4))
    if kind == 8:
        error = rng.choice((0, 0, 0, 0xD602))
        params = bytes.fromhex("000112") + bytes([rng.choice((8, 8, 4)), 0x12, kind << 4 | group, sub, 1,
                                                  rng.choice((0, 0, 1)), 0]) + struct.pack("!H", error)
        data = b"\xff\x09" + struct.pack("!H", 8) + struct.pack("!HHHH", rng.choice((0x11, 0x1C, 0x424)), 0, 2, 0)
        if rng.random() < 0.3:
            data = rng.randbytes(rng.randrange(12))
    else:
        params = bytes.fromhex("0001120411") + bytes([kind << 4 | group, sub, 0])
        data = b"\xff\x09\x00\x04" + struct.pack("!HH", rng.choice((0x11, 0x1C)), 0) if rng.random() < 0.7 else b""
    return struct.pack("!BBHHHH", 0x32, 7, 0, ref, len(params), len(data)) + params + data


def _plain_frame(rng: random.Random, from_client: bool) -> bytes:
    """A TPKT frame of what the kernel decodes itself, paired or not: COTP connection PDUs,
    Read/Write Variable, Setup Communication and other jobs, their answers, user data and SZL answers."""
    ref = rng.randrange(3)
    roll = rng.random()
    if roll < 0.04:
        return rng.choice((COTP_CR, COTP_CC))
    if roll < 0.1 and not from_client:
        return rng.choice(s7_identity_answers(ref, IDENTITY))[1]
    if roll < 0.6 and from_client:
        items = [bytes([0x12, 0x0A, 0x10, 0x02]) + struct.pack("!HH", 16, rng.randrange(3)) +
                 bytes([rng.choice((0x81, 0x83, 0x84, 0x84)), 0, 0, 0]) for _ in range(rng.choice((1, 1, 2, 5)))]
        params = rng.choice((bytes([rng.choice((0x04, 0x05)), len(items)]) + b"".join(items), S7_SETUP, b"\x1b\x00",
                             b"\x00"))
        return tpkt_cotp_data(struct.pack("!BBHHHH", 0x32, 1, 0, ref, len(params), 0) + params)
    if roll < 0.6:
        return tpkt_cotp_data(_answer(rng, ref))
    return tpkt_cotp_data(_userdata(rng, ref, from_client))


def _frame(rng: random.Random, from_client: bool) -> bytes:
    """A TPKT frame, often unusual or broken: COTP connection PDUs, jobs, answers, user data, SZL
    identity answers, COTP fragments, S7comm-plus, damaged headers."""
    ref = rng.randrange(4)
    roll = rng.random()
    if roll < 0.04:
        return rng.choice((COTP_CR, COTP_CC))
    if roll < 0.08 and not from_client:
        return rng.choice(s7_identity_answers(ref, IDENTITY))[1]
    if roll < 0.11:  # a COTP data unit without EOT: the PDU goes on in the next
        s7 = _job(rng, ref)
        return struct.pack("!BBH", 3, 0, 7 + len(s7)) + b"\x02\xf0\x00" + s7
    if roll < 0.13:
        return tpkt_cotp_data(b"\x72\x01\x00\x10\x31" + rng.randbytes(14))
    if roll < 0.6:
        s7 = _job(rng, ref) if from_client else _answer(rng, ref)
    else:
        s7 = _userdata(rng, ref, from_client)
    frame = tpkt_cotp_data(s7)
    if rng.random() < 0.04:  # a damaged TPKT, COTP or S7 header
        at = rng.randrange(min(len(frame), 20))
        frame = frame[:at] + rng.randbytes(1) + frame[at + 1 :]
    return frame


def _fuzz_capture(path: Path, seed: int) -> None:
    fuzz_capture(path, seed, 102, COTP_CR, _frame)


def test_the_simulated_plant_decodes_the_same(plant, monkeypatch):
    assert assert_paths_agree(plant, monkeypatch, "s7comm") > 500


def test_flows_evicted_from_a_bounded_flow_table_decode_the_same(plant, monkeypatch):
    """Slots of evicted and ended flows are reused by other flows: the compiled path follows."""
    assert assert_paths_agree(plant, monkeypatch, "s7comm", max_flows=64) > 500


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in S7_TRACES])
def test_every_s7comm_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    assert_paths_agree(CORPUS / trace, monkeypatch, "s7comm")


def test_the_corpus_has_s7comm_captures():
    if not CORPUS.exists():
        pytest.skip("corpus not available")
    assert len(S7_TRACES) >= 15


@pytest.mark.parametrize("seed", range(4))
def test_random_and_broken_payloads_decode_the_same(seed, tmp_path, monkeypatch):
    path = tmp_path / "fuzz.pcap"
    _fuzz_capture(path, seed)
    moved = []
    move_out = fast_s7comm.FastS7.move_out
    monkeypatch.setattr(fast_s7comm.FastS7, "move_out", lambda self, fid: moved.append(fid) or move_out(self, fid))
    assert assert_paths_agree(path, monkeypatch, "s7comm") > 300
    assert moved  # flows moved to Python midway, pending requests and all (the plant's flows mostly stay)


@pytest.mark.parametrize("seed", range(2))
def test_random_payloads_the_kernel_takes_throughout_decode_the_same(seed, tmp_path, monkeypatch):
    path = tmp_path / "plain.pcap"
    fuzz_capture(path, seed, 102, COTP_CR, _plain_frame, segments=80, clean=True)
    moved = []
    move_out = fast_s7comm.FastS7.move_out
    monkeypatch.setattr(fast_s7comm.FastS7, "move_out", lambda self, fid: moved.append(fid) or move_out(self, fid))
    assert assert_paths_agree(path, monkeypatch, "s7comm") > 1000
    assert len(moved) < 2 * 40 / 2  # most flows stay compiled (some meet a malformed item list)


def test_events_over_the_cap_are_dropped_and_counted_as_the_python_path_does(monkeypatch):
    """On flows the kernel follows throughout (a flow moving to Python brings its events along,
    which the Python path's cap counts again)."""
    path = CORPUS / "ics-pcap/S7/s7comm_varservice_libnodavedemo_bench/s7comm_varservice_libnodavedemo_bench.pcap"
    if not path.exists():
        pytest.skip("corpus not available")
    monkeypatch.setattr(fast_s7comm, "MAX_EVENTS", 30)
    monkeypatch.setattr(applayer, "MAX_EVENTS", 30)
    assert_paths_agree(path, monkeypatch, "s7comm")
    assert sum(dropped for *_, dropped in run(path, True, False, monkeypatch)) > 3000
