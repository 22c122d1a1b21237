"""Under a flood both paths keep the same events: each protocol with a compiled path has one cap an
interval (its path's MAX_EVENTS), which its events on the Python path share (UDP flows, flows that
left the kernel) and which the Python path applies alone when COMPILED is off; the other protocols
share applayer.MAX_EVENTS. Events are counted per protocol in capture order on either path."""

from __future__ import annotations

import random
from collections import Counter

from fastpaths import assert_paths_agree, fuzz_capture, plant, run  # noqa: F401 (plant: a fixture)

from sensor.meter import applayer, fast_enip, fast_modbus, fast_s7comm
from sensor.simulate import modbus


def _read(rng: random.Random, from_client: bool) -> bytes:
    """A distinct read or its answer: the events do not fold."""
    tid = rng.randrange(1 << 16)
    return modbus(tid, 1, b"\x03" + rng.randrange(1 << 16).to_bytes(2, "big") + b"\x00\x02") if from_client else \
        modbus(tid, 1, b"\x03\x04\x00\x01\x00\x02")


def test_a_modbus_flood_keeps_the_same_events_on_both_paths_whatever_the_other_protocols_cap(tmp_path, monkeypatch):
    path = tmp_path / "flood.pcap"
    fuzz_capture(path, 7, 502, _read(random.Random(0), True), _read, flows=40, segments=60, clean=True)
    monkeypatch.setattr(fast_modbus, "MAX_EVENTS", 300)
    monkeypatch.setattr(applayer, "MAX_EVENTS", 10)  # (the cap the Python path once applied to Modbus too)
    kept = assert_paths_agree(path, monkeypatch)
    intervals = run(path, True, False, monkeypatch)
    assert len(intervals) > 1 and kept == 300 * len(intervals)
    assert [len(events) for events, *_ in intervals] == [300] * len(intervals)
    assert sum(dropped for *_, dropped in intervals) > 300


def test_a_flood_of_every_protocol_of_the_plant_keeps_the_same_events_on_both_paths(plant, monkeypatch):
    """Modbus, S7comm and EtherNet/IP-CIP each past its cap, the protocols decoded in Python past theirs."""
    for module, cap in ((fast_modbus, 200), (fast_s7comm, 60), (fast_enip, 60), (applayer, 40)):
        monkeypatch.setattr(module, "MAX_EVENTS", cap)
    assert_paths_agree(plant, monkeypatch)
    for events, *_, dropped in run(plant, True, False, monkeypatch):
        kept = Counter("enip" if e["protocol"] == "cip" else e["protocol"] for e in events)
        assert (kept["modbus"], kept["s7comm"], kept["enip"]) == (200, 60, 60) and dropped > 1000
