"""The compiled BACnet/IP path gives exactly what the Python decoder gives: on every BACnet capture of the
corpus, the simulated plant and random, broken and truncated datagrams — events one per PDU and folded
(requests with their answers, answers alone, unconfirmed requests, network messages, BVLL functions),
I-Am and device-property facts (from segmented answers too), services served, malformed counts and flow
services — over the event cap and with a bounded flow table too; no flow moves to Python."""

from __future__ import annotations

import random
import struct

import pytest
from fastpaths import CORPUS, agree_bounded, assert_paths_agree, moves, plant, run, udp_capture  # noqa: F401

from sensor.meter import applayer, fast_bacnet
from sensor.meter.fast_bacnet import FastBacnet
from sensor.simulate import bacnet_device_properties, bacnet_i_am

BACNET_TRACES = sorted(p for p in [CORPUS / "ndpi/bacnet.pcap", CORPUS / "iti/BACnet/bacnet_test.pcap",
                                   CORPUS / "nttcom/Bacnet/Traces/test.pcap",
                                   *(CORPUS / "icsnpp/bacnet/traces").glob("*.pcap"),
                                   *(CORPUS / "ics-pcap/BACNET").glob("*/*.pcapng")] if p.exists())
PORT = 47808
SERVICES = (12, 12, 12, 14, 15, 20, 6, 17, 60)  # read-property (most), -multiple, write, reinitialize, file, …
DEVICE_PROPERTIES = (121, 70, 44, 12, 77, 120, 85)


def _tag(number: int, content: bytes, context: bool = True) -> bytes:
    """A BACnet tag with its content (extended length past 4 bytes)."""
    first = number << 4 | (0x08 if context else 0)
    return bytes([first | len(content)]) + content if len(content) <= 4 else bytes([first | 5, len(content)]) + content


def _object(kind: int, instance: int) -> bytes:
    return struct.pack("!I", kind << 22 | instance)


def _datagram(apdu: bytes, rng: random.Random) -> bytes:
    """BVLC (unicast, broadcast or forwarded) and NPDU (sometimes routed, or a network message instead)."""
    function, address = rng.choice(((0x0A, b""), (0x0A, b""), (0x0B, b""), (0x04, rng.randbytes(6))))
    roll = rng.random()
    if roll < 0.05:
        npdu = bytes([1, 0x80, rng.randrange(0, 24)]) + rng.randbytes(rng.choice((0, 2)))
    elif roll < 0.1:  # to a remote network (hop count), or from one
        npdu = (bytes([1, 0x24, 0, 5, 1, 7, 255]) if rng.random() < 0.5 else bytes([1, 0x08, 0, 9, 2, 1, 2])) + apdu
    else:
        npdu = bytes([1, rng.choice((0, 4))]) + apdu
    body = address + npdu
    return struct.pack("!BBH", 0x81, function, 4 + len(body)) + body


class _Bms:
    """A BACnet conversation: confirmed requests (a few invoke ids) answered by Simple- or Complex-ACKs
    (device properties among them), Errors, Rejects or Aborts the other way, or not at all, answers nobody
    asked for; I-Am, I-Have, Who-Is, time synchronisation; sometimes segment ACKs, segmented requests,
    BVLL-only functions, device properties answered in two segments (the second one the server's next
    datagram, sometimes out of order), short, bit-flipped or cut datagrams."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []  # (invoke id, service)
        self.rest = b""  # the second segment of an answer

    def opening(self, rng: random.Random) -> bytes:
        return _datagram(self.request(rng), rng)

    def request(self, rng: random.Random) -> bytes:
        invoke, service = rng.randrange(6), rng.choice(SERVICES)
        self.asked.append((invoke, service))
        fields = b""
        if service in (12, 15):
            fields = _tag(0, _object(rng.choice((8, 0, 2)), rng.randrange(3))) + \
                _tag(1, bytes([rng.choice(DEVICE_PROPERTIES)])) + (_tag(2, b"\x03") if rng.random() < 0.2 else b"")
            fields += b"\x3e\x21\x05\x3f" if service == 15 else b""
        elif service == 14:
            fields = _tag(0, _object(8, 1)) + b"\x1e\x09\x46\x1f"
        if rng.random() < 0.05:  # segmented: the first segment, or a later one
            return bytes([0x0A, 0x05, invoke, rng.choice((0, 0, 1)), 4, service]) + fields
        return bytes([0x00, 0x05, invoke, service]) + fields

    def answer(self, rng: random.Random) -> bytes:
        invoke, service = rng.choice(self.asked) if self.asked and rng.random() < 0.85 else \
            (rng.randrange(6), rng.choice(SERVICES))
        if (invoke, service) in self.asked and rng.random() < 0.8:
            self.asked.remove((invoke, service))
        roll = rng.random()
        if roll < 0.45 and service == 12:
            prop = rng.choice(DEVICE_PROPERTIES)
            value = _tag(2, bytes([rng.randrange(4) + 1]), False) if prop == 120 else \
                _tag(7, b"\x00" + rng.choice((b"Delta Controls", b"O3-DIN", b" 4.40 ", b"")), False)
            return bytes([0x30, invoke, 12]) + _tag(0, _object(rng.choice((8, 8, 2)), 7)) + _tag(1, bytes([prop])) + \
                b"\x3e" + value + b"\x3f"
        if roll < 0.5:
            return bacnet_device_properties(invoke)[1][6:]  # (its APDU)
        if roll < 0.7:
            return bytes([0x20, invoke, service])
        if roll < 0.8:
            error = rng.choice((b"\x91\x02\x91\x20", b"\x91\x01\x91\x31", b"\x5e\x91\x02\x91\x1f\x5f", b"\x91\x02",
                                b"\x91\x02\x92\x01\x00", b"\x91\x02\x93\x04\x00\x00", b"\x91\x02\x94\xff\xff\xff\xff"))
            # (codes of 2-4 bytes: 256, 0x40000 and 2^32-1 once crashed the compiled path's flush)
            return bytes([0x50, invoke, service]) + error
        if roll < 0.9:
            return bytes([rng.choice((0x60, 0x70)), invoke, rng.randrange(14)])
        return bytes([0x30, invoke, service]) + rng.randbytes(rng.choice((0, 3)))

    def unconfirmed(self, rng: random.Random) -> bytes:
        roll = rng.random()
        if roll < 0.4:
            return bacnet_i_am()[6:]
        if roll < 0.7:
            return b"\x10\x08" + (_tag(0, b"\x01", False) + _tag(1, b"\x00\x20", True) if rng.random() < 0.5 else b"")
        if roll < 0.9:
            return b"\x10\x06\xa4\x7a\x01\x01\x05\xb4\x0c\x00\x00\x00"
        return b"\x10\x01" + _tag(12, _object(8, 5), False) + _tag(12, _object(0, rng.randrange(3)), False) + \
            _tag(7, rng.choice((b"\x00AI-1", b"\x04\x00A\x00I", b"\x05\xe9 ", b"")), False)  # (UTF-8, UCS-2, …)

    def __call__(self, rng: random.Random, from_client: bool) -> bytes:
        roll = rng.random()
        if roll < 0.03:  # BVLL-only: a result, a foreign device registration
            return rng.choice((b"\x81\x00\x00\x06\x00\x00", b"\x81\x05\x00\x06\x00\x3c"))
        if roll < 0.05:
            return rng.randbytes(rng.randrange(1, 12))
        if self.rest and not from_client:
            apdu, self.rest = self.rest, b""
        elif roll < 0.08:  # the first of two segments of a device's properties, or a segment ACK
            invoke, answer = rng.randrange(6), bacnet_device_properties(0)[1][9:]
            cut = rng.randrange(len(answer))
            apdu = bytes([0x3C, invoke, 0, 2, 14]) + answer[:cut]
            self.rest = bytes([0x38, invoke, rng.choice((1, 1, 2)), 2, 14]) + answer[cut:]
            apdu = apdu if not from_client and rng.random() < 0.7 else bytes([0x40, invoke, 0, 4])
        elif roll < 0.25:
            apdu = self.unconfirmed(rng)
        else:
            apdu = self.request(rng) if from_client == (rng.random() < 0.9) else self.answer(rng)
        pdu = _datagram(apdu, rng)
        if roll > 0.93:
            flipped = bytearray(pdu)
            flipped[rng.randrange(len(pdu))] ^= 1 << rng.randrange(8)
            return bytes(flipped)
        return pdu[: rng.randrange(len(pdu))] if roll > 0.9 else pdu


@pytest.fixture
def counted(monkeypatch) -> tuple[list[int], list[str]]:
    """Packets given to the BACnet path per call, and the protocols of the datagrams the Python decoders read."""
    given, decoded = [], []
    packets, decode = FastBacnet.packets, applayer.AppLayer._decode
    monkeypatch.setattr(FastBacnet, "packets", lambda self, buf, fid, *rest: given.append(len(fid))
                        or packets(self, buf, fid, *rest))
    monkeypatch.setattr(applayer.AppLayer, "_decode", lambda self, flow, *rest: decoded.append(flow.protocol.name)
                        or decode(self, flow, *rest))
    return given, decoded


@pytest.mark.parametrize("trace", [str(p.relative_to(CORPUS)) for p in BACNET_TRACES])
def test_every_bacnet_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    assert assert_paths_agree(CORPUS / trace, monkeypatch, "bacnet") > 0


def test_the_corpus_has_bacnet_captures_from_five_sources():
    assert {path.relative_to(CORPUS).parts[0] for path in BACNET_TRACES} == {"ndpi", "iti", "nttcom", "icsnpp",
                                                                            "ics-pcap"} or not CORPUS.exists()


def test_the_plant_s_bacnet_stays_compiled_and_decodes_the_same(plant, monkeypatch, counted):
    moved = moves(monkeypatch, FastBacnet)
    assert assert_paths_agree(plant, monkeypatch, "bacnet") > 0
    given, decoded = counted
    assert not moved and sum(given) == 2 * decoded.count("bacnet") > 0  # (two runs: per PDU, folded)


@pytest.mark.parametrize("seed", range(3))
def test_random_broken_and_truncated_datagrams_decode_the_same(seed, tmp_path, monkeypatch, counted):
    path = tmp_path / "bacnet.pcap"
    udp_capture(path, seed, PORT, _Bms)
    moved = moves(monkeypatch, FastBacnet)
    assert assert_paths_agree(path, monkeypatch, "bacnet") > 400
    assert not moved
    intervals = run(path, True, False, monkeypatch)
    events = [event for events, *_ in intervals for event in events]
    assert sum("rtt" in event["attrs"] for event in events) > 50  # requests answered
    assert {event["status"] for event in events} >= {"", "OK", "unknown-object", "other"}
    assert {event["action"] for event in events} >= {"i_am", "i_have", "who_is", "read_property", "Register_Foreign_Device"}
    observations = "".join(o for _, os, *_ in intervals for o in os)
    assert all(f'"{name}"' in observations for name in ("model", "vendor", "bacnet_device_id", "protocol_served"))
    assert sum(errors.get("bacnet", 0) for _, _, errors, *_ in intervals) > 10  # malformed, counted


def test_a_bounded_flow_table_and_the_event_cap_decode_the_same(tmp_path, monkeypatch):
    """Slots of evicted flows are reused by others; events over the cap are dropped and counted,
    their requests still pending (an answer adds no event)."""
    path = tmp_path / "bacnet.pcap"
    udp_capture(path, 8, PORT, _Bms, flows=12)
    assert agree_bounded(path, monkeypatch, "bacnet", fast_bacnet) > 100
