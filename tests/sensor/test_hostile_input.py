"""Frames the sensor cannot use are counted and skipped, never fatal (issue 9, item 1): a lone
damaged frame in a quiet interval, link types the decoder does not know (in a pcap header or a
pcapng interface description), through the pipeline and the `analyze` command."""

from __future__ import annotations

import struct
import threading
from datetime import datetime, timedelta, timezone

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from typer.testing import CliRunner

from sensor.meter import pipeline
from sensor.site.source import StandIn
from sensor.cli import app
from sensor.decode import spec
from sensor.meter.observe import Observer

T0 = 1_700_000_000_000_000  # µs, on a minute boundary
MIN = 60_000_000
UDP_FRAME = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=2000) / (b"x" * 20))


def pcapng_bytes(frames: list[tuple[int, bytes]], linktype: int, options: bytes = b"") -> bytes:
    """A little-endian pcapng section: one interface of ``linktype`` (with ``options``), one enhanced
    packet block per frame."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", linktype, 0, 65535) + options)]
    for ts, data in frames:
        out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data))
    return b"".join(out)


def run_pipeline(path) -> tuple[list, pipeline.Stats]:
    stats = pipeline.Stats()
    batches = list(pipeline.iter_batches([path], 60.0, stats=stats))
    return batches, stats


def assert_accounted(batches, stats: pipeline.Stats, read: int) -> None:
    """Every frame read is decoded or counted as an error, in the stats and in the batches."""
    assert stats.read == read == stats.decoded + sum(stats.errors.values())
    assert sum(b.counters["packets"] for b in batches) == read
    assert sum(b.counters["parse_errors"] for b in batches) == sum(stats.errors.values())
    flow_pkts = sum(sum(b.tables["flows"].column(c).to_pylist()) for b in batches for c in ("orig_pkts", "resp_pkts"))
    assert flow_pkts == stats.decoded  # each decoded frame counted in exactly one flow


def test_a_lone_truncated_frame_in_a_quiet_minute(make_pcap):
    path = make_pcap([(T0, UDP_FRAME), (T0 + 2 * MIN, UDP_FRAME[:30]), (T0 + 4 * MIN, UDP_FRAME)])
    batches, stats = run_pipeline(path)
    assert [b.counters["parse_errors"] for b in batches] == [0, 1, 0]
    assert stats.errors == {"ip": 1}
    assert_accounted(batches, stats, 3)


@pytest.mark.parametrize("linktype", [147, 0xFFFF, 200])
def test_unknown_link_types_are_counted_per_type(make_pcap, linktype):
    path = make_pcap([(T0, UDP_FRAME), (T0 + 1000, UDP_FRAME)], linktype=linktype)
    batches, stats = run_pipeline(path)
    assert stats.link_types == {linktype: 2} and stats.errors == {"link_type": 2}
    assert [b.counters["parse_errors"] for b in batches] == [2]
    assert_accounted(batches, stats, 2)


def test_a_bogus_pcapng_interface_link_type(tmp_path):
    path = tmp_path / "bogus.pcapng"
    path.write_bytes(pcapng_bytes([(T0, UDP_FRAME), (T0 + 3 * MIN, UDP_FRAME)], linktype=0xBEEF))
    batches, stats = run_pipeline(path)
    assert stats.link_types == {0xBEEF: 2}
    assert_accounted(batches, stats, 2)


@pytest.mark.parametrize("options,year", [
    (struct.pack("<HHB3x", 9, 1, 0), 2106),  # if_tsresol 10^0: microsecond ticks read as seconds
    (struct.pack("<HHB3x", 9, 1, 30), 1970),
    (struct.pack("<HHB3x", 9, 1, 0xFF), 1970),  # 2^-127
    (struct.pack("<HHq", 14, 8, 1 << 62), 2106),  # if_tsoffset
    (struct.pack("<HHq", 14, 8, -(1 << 62)), 1970),
])
def test_lying_interface_clocks_stay_within_pcap_time(tmp_path, options, year):
    path = tmp_path / "clock.pcapng"
    path.write_bytes(pcapng_bytes([(T0, UDP_FRAME)], linktype=1, options=options))
    [batch], stats = run_pipeline(path)
    assert batch.interval_start.year == year
    assert_accounted([batch], stats, 1)


def test_a_packet_stamped_minutes_before_its_interval_dates_its_events_in_it(make_pcap):
    """Batches are cut by network time, so a late packet joins the current interval; its events and
    observations must not claim a time before it (a core refuses rows outside their interval)."""
    query = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.53")
                  / UDP(sport=5000, dport=53) / DNS(id=7, qd=DNSQR(qname="plc.example")))
    path = make_pcap([(T0 + 5 * MIN, UDP_FRAME), (T0, query)])
    [batch] = pipeline.iter_batches([path], 60.0, observer=Observer())
    events = batch.tables["events"].to_pylist()
    assert [e["protocol"] for e in events] == ["dns"]
    assert all(e["ts"] >= batch.interval_start for e in events + batch.tables["observations"].to_pylist())


def test_a_decoder_bug_costs_its_pdus_not_the_capture(make_pcap, caplog):
    def decode(pdu, is_orig, session):
        return {}["no such key"]

    boom = spec.guarded(spec.Protocol("boom", frozenset({"udp"}), frozenset({2000}), lambda data: True, decode))
    path = make_pcap([(T0 + i, UDP_FRAME) for i in range(3)])
    before = spec.FAULTS["boom"]
    [iv] = pipeline.iter_intervals([path], 60.0, protocols=(boom,))
    assert iv.decode_errors == {"boom": 3} and spec.FAULTS["boom"] - before == 3
    assert [r.exc_info[0] for r in caplog.records if "boom decoder failed" in r.message] == [KeyError]


def test_a_stand_in_interface_file_that_is_no_capture_is_one_damaged_record(tmp_path):
    """`run` on such a file stays up; the damage is counted in the interval of the wall clock."""
    path = tmp_path / "eth1.pcap"
    path.write_bytes(b"this is not a capture file")
    stats = pipeline.Stats()
    [batch] = pipeline.iter_batches([StandIn(path).chunks(threading.Event())], 60.0, stats=stats)
    assert (batch.counters["packets"], batch.counters["parse_errors"], stats.errors) == (1, 1, {"record": 1})
    assert datetime.now(timezone.utc) - batch.interval_end < timedelta(seconds=60)


def test_analyze_reports_what_it_could_not_parse(make_pcap, tmp_path):
    path = make_pcap([(T0, UDP_FRAME), (T0 + MIN, UDP_FRAME[:30])], linktype=1)
    odd = make_pcap([(T0 + 2 * MIN, UDP_FRAME)], linktype=147)
    result = CliRunner().invoke(app, ["analyze", str(path), str(odd), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "3 packets, 2 parse errors" in result.output
    assert "unparsed: ip 1, link_type 1 (link type 147: 1)" in result.output
