"""At the end of input a flow's last interval record is its final one (no zero-packet record after
it); a flow that times out in a later interval than its last packet still gets a zero-packet final
record, since at its last interval's end nobody knows yet that it is over."""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP

from sensor.meter.pipeline import iter_intervals, whole_flows
from sensor.simulate import write_pcap

from test_flows import CLI, SRV, S, T0, frame

COUNTS = ("orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_ip_bytes", "resp_ip_bytes")


def _records(intervals) -> list[dict]:
    return [record | {"interval": i} for i, iv in enumerate(intervals) for record in iv.flow_records()]


def test_a_flow_alive_at_the_end_of_input_ends_in_its_last_interval_record(make_pcap):
    datagrams = [(T0 + t * S, frame(CLI, SRV, UDP(sport=5000, dport=502), b"x" * 10)) for t in (0, 30, 50, 90)]  # minutes begin at T0 + 40 s
    rows = _records(iter_intervals([make_pcap(datagrams)], 60.0))
    assert [(r["interval"], r["orig_pkts"], r["final"]) for r in rows if r["proto"] == "udp"] == [
        (0, 2, False), (1, 2, True)]


def test_a_flow_idle_past_its_interval_gets_a_zero_packet_final_record(make_pcap):
    # the flow's last packet is in the first minute; its 60 s UDP timeout falls in the third
    datagrams = [(T0, frame(CLI, SRV, UDP(sport=5000, dport=502), b"x"))]
    datagrams += [(T0 + t * S, frame(CLI, SRV, UDP(sport=5001, dport=502), b"y")) for t in range(0, 200, 10)]
    rows = [r for r in _records(iter_intervals([make_pcap(datagrams)], 60.0)) if r["orig_p"] == 5000]
    assert [(r["interval"], r["orig_pkts"], r["final"]) for r in rows] == [(0, 1, False), (1, 0, True)]


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=20_000, seed=3)
    return path


def test_on_the_plant_each_flow_has_one_record_per_interval_and_whole_flows_add_up(plant):
    intervals = list(iter_intervals([plant], 60.0))
    rows = _records(intervals)
    assert len({(r["uid"], r["interval"]) for r in rows}) == len(rows)
    last = len(intervals) - 1
    # a zero-packet final record in the last interval only for a flow whose last packet came earlier
    earlier = {r["uid"] for r in rows if r["interval"] < last}
    idle = [r for r in rows if r["interval"] == last and r["final"] and not any(r[c] for c in COUNTS)]
    assert {r["uid"] for r in idle} <= earlier
    # every flow ends exactly once, and its records add up to the packets the intervals counted
    finals = [r["uid"] for r in rows if r["final"]]
    assert sorted(finals) == sorted({r["uid"] for r in rows})
    whole = whole_flows([plant], 60.0)
    assert sum(f["orig_pkts"] + f["resp_pkts"] for f in whole) == sum(iv.counters["packets"] - iv.counters["parse_errors"]
                                                                   for iv in intervals)
