"""The pipeline fed a stream of chunks, as live capture feeds it: the same intervals as from the file,
intervals closed by the chunks' clock when no packet comes, kernel drops counted."""

from __future__ import annotations

from dataclasses import replace

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sensor.capture.pcapfile import Frames, iter_frames
from sensor.meter.pipeline import iter_intervals

T0 = 1_700_000_020_000_000  # µs, 40 s into a minute
S = 1_000_000
DATAGRAM = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
                 / UDP(sport=40000, dport=502) / bytes(20))


def summary(intervals) -> list[tuple]:
    return [(iv.start, iv.counters["packets"], iv.counters["kernel_drops"], sum(iv.flows["orig_pkts"].to_pylist()))
            for iv in intervals]


def test_a_chunk_stream_gives_the_file_s_intervals(make_pcap):
    path = make_pcap([(T0 + i * 7 * S, DATAGRAM) for i in range(30)])  # 3.5 minutes
    from_file = list(iter_intervals([path], 60.0))
    streamed = list(iter_intervals([iter(list(iter_frames(path, chunk=4)))], 60.0))
    assert summary(streamed) == summary(from_file)
    assert [iv.flows for iv in streamed] == [iv.flows for iv in from_file]


def test_the_clock_closes_intervals_when_no_packet_comes(make_pcap):
    [frames] = iter_frames(make_pcap([(T0, DATAGRAM), (T0 + S, DATAGRAM)]))
    stream = [
        frames,
        Frames.empty(kernel_drops=3, clock=T0 + 5 * S),  # still the first minute: nothing closes
        Frames.empty(kernel_drops=2, clock=T0 + 30 * S),  # the next minute began: the first is done
    ]
    first, last = iter_intervals([iter(stream)], 60.0)
    # a chunk's drops happened before its clock: they belong to the interval that clock closes
    assert (first.counters["packets"], first.counters["kernel_drops"], first.flows["final"].to_pylist()) == (2, 5, [False])
    assert first.end == (T0 + 20 * S) / S  # the minute boundary after T0
    # the end of the stream ends the flow: its final record comes in an interval of its own
    assert (last.counters["packets"], last.counters["kernel_drops"], last.flows["final"].to_pylist()) == (0, 0, [True])


def test_quiet_minutes_make_no_batches_and_late_packets_join_the_current_interval(make_pcap):
    [frames] = iter_frames(make_pcap([(T0, DATAGRAM)]))
    late = replace(frames, ts=frames.ts - 10 * S)  # stamped before the clock had moved on
    stream = [frames] + [Frames.empty(clock=T0 + m * 60 * S) for m in range(1, 4)] + [late]
    got = list(iter_intervals([iter(stream)], 60.0))
    assert [iv.start for iv in got] == [(T0 - 40 * S) / S, (T0 + 140 * S) / S]  # nothing for the quiet minutes
    assert [(iv.counters["packets"], sum(iv.flows["orig_pkts"].to_pylist())) for iv in got] == [(1, 1), (1, 1)]
