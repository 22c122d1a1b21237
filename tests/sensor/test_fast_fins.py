"""The compiled FINS/UDP path gives exactly what the Python decoder gives: on every FINS capture of the
corpus and on random, broken and truncated datagrams — events one per PDU and folded (commands with
their answers, answers alone, FINS/TCP headers sent over UDP), Controller Data Read facts, services
served, malformed counts and flow services — including flows that move to the Python path midway,
over the event cap and with a bounded flow table. FINS/TCP flows stay on the Python path."""

from __future__ import annotations

import json
import random
import struct

import pytest
from fastpaths import CORPUS, agree_bounded, assert_paths_agree, moves, run, udp_capture

from sensor.meter import applayer, fast_fins
from sensor.meter.fast_fins import FastFins
from sensor.simulate import fins

FINS_TRACES = sorted(p for p in [CORPUS / "nttcom/OmronFINS/Traces/test.pcap", CORPUS / "ndpi/fins.pcap",
                                 *(CORPUS / "icsnpp/omron-fins/traces").glob("*.pcap")] if p.exists())
PORT = 9600
CODES = (0x0101, 0x0102, 0x0104, 0x0501, 0x0401, 0x0402, 0x0601, 0x0701, 0x2101, 0x7777)
AREAS = (0x82, 0xB0, 0x31, 0x55)
STRANGE = (b" ", b"\x00", b"\xa0", b"\x85", b"\x1f", b"\t")  # what str.strip and the NUL split take off


def _text(rng: random.Random) -> bytes:
    """20 bytes of a model or version, padded and garbled as devices and fuzzers do."""
    parts = [rng.choice((b"CJ2M-CPU31", b"CP1L-EM40DT-D", b"01.07", b"", b"NX\xe9")), *rng.choices(STRANGE, k=3)]
    rng.shuffle(parts)
    return b"".join(parts).ljust(20, rng.choice(STRANGE))[:20]


class _Plc:
    """A FINS conversation: commands (on a few nodes, service ids and codes) often answered by the next
    datagrams the other way, or answered with an error, or not at all, and answers nobody asked for;
    Controller Data Read answers with a model and version; sometimes FINS/TCP headers, short, bit-flipped
    or over-long datagrams."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int, int, int]] = []  # (sid, code, plc node, hmi node)

    def opening(self, rng: random.Random) -> bytes:
        return self.command(rng)

    def command(self, rng: random.Random) -> bytes:
        sid, code, plc, hmi = rng.randrange(4), rng.choice(CODES), rng.choice((1, 2)), rng.choice((10, 11))
        self.asked.append((sid, code, plc, hmi))
        body = bytes([rng.choice(AREAS)]) + rng.randbytes(rng.choice((0, 3, 5))) if rng.random() < 0.9 else b""
        return fins(True, sid, plc, hmi, code, body)

    def answer(self, rng: random.Random) -> bytes:
        sid, code, plc, hmi = rng.choice(self.asked) if self.asked and rng.random() < 0.85 else \
            (rng.randrange(4), rng.choice(CODES), 1, 10)
        if (sid, code, plc, hmi) in self.asked and rng.random() < 0.8:
            self.asked.remove((sid, code, plc, hmi))
        end = rng.choice((b"\x00\x00", b"\x00\x00", b"\x00\x40", b"\x80\x01", b"\x11\x03", b"\x00"))
        data = end + _text(rng) + _text(rng) + rng.randbytes(rng.choice((0, 0, 10))) if code == 0x0501 and \
            rng.random() < 0.8 else end + rng.randbytes(rng.choice((0, 4)))
        return fins(False, sid, plc, hmi, code, data)

    def __call__(self, rng: random.Random, from_client: bool) -> bytes:
        roll = rng.random()
        if roll < 0.04:  # FINS/TCP's header in a datagram: node address exchange, an error, a frame
            command = rng.choice((0, 1, 2, 3, 9, 1 << 31))
            frame = self.command(rng) if command == 2 and rng.random() < 0.8 else rng.randbytes(rng.choice((0, 8)))
            return b"FINS" + struct.pack(">III", 8 + len(frame), command, rng.choice((0, 0, 1, 0x21))) + frame
        if roll < 0.07:
            return rng.randbytes(rng.randrange(1, 14))
        pdu = self.command(rng) if from_client == (rng.random() < 0.9) else self.answer(rng)
        if roll < 0.12:
            flipped = bytearray(pdu)
            flipped[rng.randrange(len(pdu))] ^= 1 << rng.randrange(8)
            return bytes(flipped)
        return pdu[: rng.randrange(len(pdu))] if roll < 0.15 else pdu


@pytest.fixture
def kernel_packets(monkeypatch) -> list[int]:
    """How many packets the FINS path was given, per call (filled during runs)."""
    counts: list[int] = []
    packets = FastFins.packets
    monkeypatch.setattr(FastFins, "packets", lambda self, buf, fid, *rest: counts.append(len(fid))
                        or packets(self, buf, fid, *rest))
    return counts


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in FINS_TRACES])
def test_every_fins_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    assert assert_paths_agree(CORPUS / trace, monkeypatch, "omron_fins") > 0


def test_the_corpus_fins_over_udp_is_compiled_and_fins_tcp_stays_in_python(monkeypatch, kernel_packets):
    if not FINS_TRACES:
        pytest.skip("no corpus")
    tcp_only = CORPUS / "icsnpp/omron-fins/traces/omron_fins_tcp_commands_responses.pcap"
    assert [event["protocol"] for events, *_ in run(tcp_only, True, False, monkeypatch) for event in events] \
        == ["omron_fins"] * 12 and not kernel_packets
    run(CORPUS / "icsnpp/omron-fins/traces/omron.pcap", True, False, monkeypatch)
    assert sum(kernel_packets) == 243  # every datagram


@pytest.mark.parametrize("seed", range(3))
def test_random_broken_and_truncated_datagrams_decode_the_same(seed, tmp_path, monkeypatch, kernel_packets):
    path = tmp_path / "fins.pcap"
    udp_capture(path, seed, PORT, _Plc)
    moved = moves(monkeypatch, FastFins)
    decoded = []  # datagrams of FINS flows the Python decoder read
    decode = applayer.AppLayer._decode
    monkeypatch.setattr(applayer.AppLayer, "_decode", lambda self, flow, *rest: decoded.append(flow.protocol.name)
                        or decode(self, flow, *rest))
    assert assert_paths_agree(path, monkeypatch, "omron_fins") > 500
    assert not moved and sum(kernel_packets) == 2 * decoded.count("omron_fins") > 1600  # (two runs: per PDU, folded)
    intervals = run(path, True, False, monkeypatch)
    events = [event for events, *_ in intervals for event in events]
    assert sum("rtt" in event["attrs"] for event in events) > 100  # commands answered
    assert {event["status"] for event in events} >= {"", "OK", "0x0001", "0x1103"}  # (flags 0x8040 taken off)
    assert sum(event["action"] == "Node Address Data Send (client)" for event in events) > 0
    assert {o["attribute"] for _, observations, *_ in intervals for o in map(json.loads, observations)} >= \
        {"model", "firmware", "vendor", "protocol_served"}
    assert sum(errors.get("omron_fins", 0) for _, _, errors, *_ in intervals) > 10  # malformed, counted


def test_flows_past_the_pending_keys_reach_go_on_in_python(tmp_path, monkeypatch):
    """Pending keys hold 15 bits of flow id (32,768 FINS flows at once): a flow past them is not taken,
    from its first datagram on."""
    path = tmp_path / "fins.pcap"
    udp_capture(path, 5, PORT, _Plc, truncated=0)
    monkeypatch.setattr(FastFins, "max_fid", 3)
    moved = moves(monkeypatch, FastFins)
    assert assert_paths_agree(path, monkeypatch, "omron_fins") > 500
    assert len(moved) > 5


def test_a_bounded_flow_table_and_the_event_cap_decode_the_same(tmp_path, monkeypatch):
    """Slots of evicted flows are reused by others; events over the cap are dropped and counted,
    their commands still pending (an answer adds no event)."""
    path = tmp_path / "fins.pcap"
    udp_capture(path, 8, PORT, _Plc, flows=12)
    assert agree_bounded(path, monkeypatch, "omron_fins", fast_fins) > 100
