"""The compiled Modbus/TCP path gives exactly what the Python decoder gives: on the simulated plant,
on every Modbus capture of the corpus and on random, split, truncated and malformed payloads —
events one per PDU and folded, observations, malformed counts and flow services. Events folded in
the app layer (``folded``) are the rows ``fold_events`` makes of the per-PDU events."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

from bench.concurrent_flows import write as write_concurrent
from sensor.decode.fast.modbus import rtt_us
from sensor.meter import applayer, fast_modbus
from sensor.meter.fold import _key, fold_events
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import Host, modbus, modbus_device_id_answer, tcp_frame, write_pcap

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
MODBUS_TRACES = [
    "ics-pcap/MODBUS/MODBUS-TestDataPart1/MODBUS-TestDataPart1.pcap",
    "ics-pcap/MODBUS/MODBUS-TestDataPart2/MODBUS-TestDataPart2.pcap",
    "ics-pcap/MODBUS/Modbus/Modbus.pcap",
    "icsnpp/modbus/traces/modbus_example.pcap",
    "iti/ModbusTCP/modbus_test.pcap",
    "ndpi/modbus.pcap",
    "ndpi/umas.pcap",
    "zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap",
    "zeek/Traces/modbus/modbusSmall.pcap",
]


def _canonical(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)


def _run(path: Path, compiled: bool, folded: bool, monkeypatch, **options) -> list[tuple]:
    """Per interval: (events as the app layer hands them over, observations, decode errors, flow services,
    events dropped over the cap)."""
    monkeypatch.setattr(applayer, "COMPILED", compiled)
    return [(iv.events, _canonical(iv.observations), iv.decode_errors, [str(service) for service in iv.flows["service"]],
             iv.counters["dropped_events"])
            for iv in iter_intervals([path], folded=folded, **options)]


def assert_paths_agree(path: Path, monkeypatch, **options) -> int:
    """Both paths agree, per PDU and folded; returns how many Modbus events the capture has."""
    python = _run(path, False, False, monkeypatch, **options)
    per_pdu = _run(path, True, False, monkeypatch, **options)
    folded = _run(path, True, True, monkeypatch, **options)
    assert [(_canonical(events), *rest) for events, *rest in per_pdu] == \
        [(_canonical(events), *rest) for events, *rest in python]
    assert [(_canonical(events), *rest) for events, *rest in folded] == \
        [(_canonical(fold_events(events)), *rest) for events, *rest in python]
    for events, *_ in folded:  # folded once: no two rows of an interval are one event
        assert len({_key(row) for row in events}) == len(events)
    return sum(event["protocol"] == "modbus" for events, *_ in python for event in events)


@pytest.mark.parametrize("folder", ["icsnpp/s7comm/traces", "icsnpp/enip/traces", "icsnpp/bacnet/traces",
                                    "icsnpp/dnp3/traces"])
def test_other_protocols_fold_in_the_app_layer_as_fold_events_folds_them(folder, monkeypatch):
    """With ``folded``, the Python decoders' events are folded without a dict per event: the same rows."""
    traces = sorted(p for p in (CORPUS / folder).glob("*") if p.suffix in (".pcap", ".pcapng"))
    if not traces:
        pytest.skip("corpus not available")
    for trace in traces:
        assert_paths_agree(trace, monkeypatch)


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=30_000, seed=3)
    return path


def test_the_simulated_plant_decodes_the_same(plant, monkeypatch):
    assert assert_paths_agree(plant, monkeypatch) > 1000


@pytest.mark.parametrize("trace", MODBUS_TRACES)
def test_every_modbus_capture_of_the_corpus_decodes_the_same(trace, monkeypatch):
    if not (CORPUS / trace).exists():
        pytest.skip("corpus not available")
    assert assert_paths_agree(CORPUS / trace, monkeypatch) > 0


@pytest.mark.parametrize("seed", range(2))
def test_events_over_the_cap_are_dropped_and_counted_as_the_python_path_does(seed, tmp_path, monkeypatch):
    """Answers to dropped requests pair with them (no event of their own), as the Python path's do."""
    path = tmp_path / "fuzz.pcap"
    _fuzz_capture(path, seed)
    monkeypatch.setattr(fast_modbus, "MAX_EVENTS", 40)
    monkeypatch.setattr(applayer, "MAX_EVENTS", 40)
    assert_paths_agree(path, monkeypatch)
    intervals = _run(path, True, False, monkeypatch)
    assert all(len(events) <= 40 for events, *_ in intervals)
    assert sum(dropped for *_, dropped in intervals) > 500


def test_many_flows_evicted_from_a_bounded_flow_table_decode_the_same(tmp_path, monkeypatch):
    """Slots of evicted and ended flows are reused by other flows: the compiled path follows."""
    path = tmp_path / "concurrent.pcap"
    write_concurrent(path, 800, 4)
    assert assert_paths_agree(path, monkeypatch, max_flows=256) > 500


CLIENT = Host("hmi", "hmi", "10.9.0.10", "02:00:00:00:00:0a", False, 64)
SERVER = Host("plc", "plc", "10.9.0.20", "02:00:00:00:00:14", False, 64)
T0 = 1_767_225_600_000_000  # µs
CODES = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0x16, 0x17, 0x18, 0x2B, 0x5A, 0x63]


def _pdu(rng: random.Random, from_client: bool) -> bytes:
    """A Modbus frame, often broken: random function and body length, identity answers, UMAS Read ID."""
    tid, unit = rng.randrange(6), rng.choice((1, 1, 255))
    roll = rng.random()
    if roll < 0.08:
        pdu = b"\x5a\x00" + (b"\x02" if from_client else b"\xfe" + rng.randbytes(rng.randrange(40)))
    elif roll < 0.14 and not from_client:
        objects = tuple(rng.randbytes(rng.randrange(12)) for _ in range(rng.randrange(4)))
        answer = modbus_device_id_answer(objects)
        pdu = answer[: rng.randrange(2, len(answer) + 1)]
    else:
        code = rng.choice(CODES) | (0x80 if not from_client and rng.random() < 0.2 else 0)
        pdu = bytes([code]) + rng.randbytes(rng.choice((0, 1, 2, 3, 4, 7, 8, 12)))
    frame = modbus(tid, unit, pdu)
    if rng.random() < 0.03:  # protocol id or length no frame has
        frame = frame[:2] + rng.randbytes(4) + frame[6:]
    return frame


def _fuzz_capture(path: Path, seed: int, flows: int = 40, segments: int = 40) -> None:
    """Modbus flows (each opened by a plain request, for detection) of random frames sent whole, several
    to a segment, split across segments, retransmitted, overlapping, after a gap, or truncated by the
    capture; over three 60 s intervals."""
    rng = random.Random(seed)
    records = []
    for n in range(flows):
        port = 40000 + n
        seq = {True: rng.randrange(1 << 32), False: rng.randrange(1 << 32)}
        last: dict[bool, tuple[int, bytes]] = {}
        t = T0 + rng.randrange(60_000_000)
        for i in range(segments):
            from_client = i == 0 or rng.random() < 0.5
            payload = modbus(1, 1, b"\x03\x00\x00\x00\x02") if i == 0 else \
                b"".join(_pdu(rng, from_client) for _ in range(rng.choice((1, 1, 1, 2, 3))))
            start = seq[from_client]
            roll = rng.random()
            if roll < 0.1 and from_client in last:  # retransmission, or overlap with new bytes after it
                start, old = last[from_client]
                payload = old + (payload if rng.random() < 0.5 else b"")
            elif roll < 0.15:  # a gap: bytes never captured
                start = (start + rng.randrange(1, 50)) & 0xFFFFFFFF
            elif roll < 0.25 and len(payload) > 2:  # a frame split across two segments
                cut = rng.randrange(1, len(payload))
                src, dst, ports = (CLIENT, SERVER, (port, 502)) if from_client else (SERVER, CLIENT, (502, port))
                records.append((t, tcp_frame(src, dst, *ports, start, 1, 0x18, payload[:cut]), None))
                start, payload = (start + cut) & 0xFFFFFFFF, payload[cut:]
            src, dst, ports = (CLIENT, SERVER, (port, 502)) if from_client else (SERVER, CLIENT, (502, port))
            frame = tcp_frame(src, dst, *ports, start, 1, 0x18, payload)
            caplen = len(frame) - rng.randrange(1, len(payload) + 1) if rng.random() < 0.05 else None
            records.append((t, frame, caplen))
            last[from_client] = (start, payload)
            seq[from_client] = max(seq[from_client], (start + len(payload)) & 0xFFFFFFFF)
            t += rng.choice((0, 1, 900, 20_000, 3_000_000))
    records.sort(key=lambda r: r[0])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, frame, caplen in records:
        data = frame[:caplen] if caplen else frame
        out.append(struct.pack("<IIII", *divmod(ts, 1_000_000), len(data), len(frame)) + data)
    path.write_bytes(b"".join(out))


@pytest.mark.parametrize("seed", range(4))
def test_random_and_broken_payloads_decode_the_same(seed, tmp_path, monkeypatch):
    path = tmp_path / "fuzz.pcap"
    _fuzz_capture(path, seed)
    assert assert_paths_agree(path, monkeypatch) > 100


def test_round_trip_times_round_as_python_formats_them():
    rng = random.Random(5)
    for _ in range(20_000):
        req = rng.choice((rng.randrange(1 << 20), rng.randrange(1 << 51), T0 + rng.randrange(1 << 40)))
        resp = req + rng.choice((0, 1, rng.randrange(1000), rng.randrange(1 << 32), -rng.randrange(100)))
        text = f"{max(resp / 1_000_000 - req / 1_000_000, 0.0):.6f}"
        assert rtt_us(req, resp) == int(text.replace(".", "")), (req, resp)
