"""The compiled Modbus/TCP path gives exactly what the Python decoder gives: on the simulated plant,
on every Modbus capture of the corpus and on random, split, truncated and malformed payloads —
events one per PDU and folded, observations, malformed counts and flow services. Events folded in
the app layer (``folded``) are the rows ``fold_events`` makes of the per-PDU events."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest
from fastpaths import CORPUS, T0, assert_paths_agree, fuzz_capture, plant, run  # noqa: F401 (plant: a fixture)

from bench.concurrent_flows import write as write_concurrent
from sensor.decode.fast.modbus import rtt_us
from sensor import wire
from sensor.meter import applayer, eventcols, fast_modbus
from sensor.meter.pipeline import iter_batches
from sensor.simulate import modbus, modbus_device_id_answer

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


@pytest.mark.parametrize("folder", ["icsnpp/s7comm/traces", "icsnpp/enip/traces", "icsnpp/bacnet/traces",
                                    "icsnpp/dnp3/traces"])
def test_other_protocols_fold_in_the_app_layer_as_fold_events_folds_them(folder, monkeypatch):
    """With ``folded``, the Python decoders' events are folded without a dict per event: the same rows."""
    traces = sorted(p for p in (CORPUS / folder).glob("*") if p.suffix in (".pcap", ".pcapng"))
    if not traces:
        pytest.skip("corpus not available")
    for trace in traces:
        assert_paths_agree(trace, monkeypatch)


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
    intervals = run(path, True, False, monkeypatch)
    assert all(len(events) <= 40 for events, *_ in intervals)
    assert sum(dropped for *_, dropped in intervals) > 500


def test_many_flows_evicted_from_a_bounded_flow_table_decode_the_same(tmp_path, monkeypatch):
    """Slots of evicted and ended flows are reused by other flows: the compiled path follows."""
    path = tmp_path / "concurrent.pcap"
    write_concurrent(path, 800, 4)
    assert assert_paths_agree(path, monkeypatch, max_flows=256) > 500


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


def _fuzz_capture(path: Path, seed: int) -> None:
    fuzz_capture(path, seed, 502, modbus(1, 1, b"\x03\x00\x00\x00\x02"), _pdu)


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


@pytest.mark.parametrize("fold", [True, False])
def test_the_events_table_built_in_slices_makes_the_same_batches(plant, fold, monkeypatch):
    """An interval's events table is built TABLE_SLICE rows at a time (its temporaries a slice's):
    every batch, encoded, is the same bytes as with the table built at once."""
    def frames() -> tuple[list[bytes], int]:
        out, most = [], 0
        for batch in iter_batches([plant], 60.0, sensor="SN-1", fold=fold):
            batch.batch_id = "00000000-0000-4000-8000-000000000000"
            out.append(wire.encode(batch, level=3))
            most = max(most, batch.tables["events"]["protocol"].to_pylist().count("modbus"))
        return out, most

    monkeypatch.setattr(fast_modbus, "FEW_ROWS", 0)  # (a table however few rows)
    monkeypatch.setattr(eventcols, "TABLE_SLICE", 1 << 30)
    at_once, most = frames()
    assert most > 3 * 3  # several slices of 3 in an interval
    monkeypatch.setattr(eventcols, "TABLE_SLICE", 3)
    assert frames() == (at_once, most)


@pytest.mark.parametrize("fold", [True, False])
def test_rows_handed_over_as_dicts_make_the_same_batches(plant, fold, monkeypatch):
    """An interval of FEW_ROWS Modbus rows or fewer hands them over as dicts (the plant's polls folded),
    more as a table: every batch, encoded, is the same bytes either way."""
    flush, parts = fast_modbus.FastModbus.flush, []
    monkeypatch.setattr(fast_modbus.FastModbus, "flush", lambda self, fold: parts.append(flush(self, fold)) or parts[-1])

    def frames(few: int) -> tuple[list[bytes], set[type]]:
        monkeypatch.setattr(fast_modbus, "FEW_ROWS", few)
        parts.clear()
        out = []
        for batch in iter_batches([plant], 60.0, sensor="SN-1", fold=fold):
            batch.batch_id = "00000000-0000-4000-8000-000000000000"
            out.append(wire.encode(batch, level=3))
        return out, {type(part) for part in parts if len(part)}

    as_tables, kinds = frames(0)
    assert kinds == {pa.Table}
    assert frames(1 << 30) == (as_tables, {list})
    if fold:  # the plant's folded rows: a few an interval
        assert frames(fast_modbus.FEW_ROWS) == (as_tables, {list})
