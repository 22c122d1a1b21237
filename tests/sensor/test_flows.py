"""Flow table: Zeek conn.log semantics, timeouts, interval records, the pipeline and its observer hook."""

from __future__ import annotations

import csv

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sensor import wire
from sensor.meter.pipeline import iter_batches, whole_flows

CLI, SRV = ("02:00:00:00:00:01", "10.0.0.1"), ("02:00:00:00:00:02", "10.0.0.2")
T0 = 1_700_000_000_000_000  # µs
S = 1_000_000


def frame(src, dst, l4, payload: bytes = b"") -> bytes:
    return bytes(Ether(src=src[0], dst=dst[0]) / IP(src=src[1], dst=dst[1]) / l4 / payload)


class Conv:
    """A scripted TCP conversation between CLI:40000 and SRV:502 with correct sequence numbers."""

    def __init__(self, sport: int = 40000):
        self.sport = sport
        self.seq = {True: 1000, False: 5000}  # next seq per direction (True = client)
        self.frames: list[tuple[int, bytes]] = []

    def send(self, t: float, from_client: bool, flags: str, data: bytes = b"") -> Conv:
        src, dst = (CLI, SRV) if from_client else (SRV, CLI)
        ports = (self.sport, 502) if from_client else (502, self.sport)
        seq = self.seq[from_client]
        ack = self.seq[not from_client] if "A" in flags else 0
        self.frames.append((T0 + int(t * S), frame(src, dst, TCP(sport=ports[0], dport=ports[1], flags=flags,
                                                                 seq=seq, ack=ack), data)))
        self.seq[from_client] = seq + len(data) + ("S" in flags) + ("F" in flags)
        return self

    def handshake(self, t: float = 0.0) -> Conv:
        return self.send(t, True, "S").send(t + 0.01, False, "SA").send(t + 0.02, True, "A")


def flows_of(make_pcap, frames, **kw) -> list[dict]:
    return [f for f in whole_flows([make_pcap(sorted(frames, key=lambda x: x[0]))], **kw) if f["proto"] != "l2"]


def test_tcp_sf_history_bytes_and_packets(make_pcap):
    c = Conv().handshake().send(1, True, "PA", b"q" * 12).send(1.05, False, "A").send(1.1, False, "PA", b"r" * 30)
    c.send(2, True, "FA").send(2.1, False, "FA").send(2.2, True, "A")
    [f] = flows_of(make_pcap, c.frames)
    assert (f["orig_h"], f["orig_p"], f["resp_h"], f["resp_p"]) == ("10.0.0.1", 40000, "10.0.0.2", 502)
    assert (f["conn_state"], f["history"]) == ("SF", "ShADadFf")
    assert (f["orig_pkts"], f["resp_pkts"], f["orig_bytes"], f["resp_bytes"]) == (5, 4, 12, 30)
    assert f["orig_ip_bytes"] == 5 * 40 + 12 and f["resp_ip_bytes"] == 4 * 40 + 30
    assert (f["orig_l2_addr"], f["resp_l2_addr"]) == (CLI[0], SRV[0])
    assert f["community_id"].startswith("1:") and f["uid"].startswith("C") and f["final"]


@pytest.mark.parametrize(
    "script,state,history",
    [
        (lambda c: c.send(0, True, "S"), "S0", "S"),
        (lambda c: c.send(0, True, "S").send(0.1, False, "RA"), "REJ", "Sr"),
        (lambda c: c.handshake().send(1, True, "RA"), "RSTO", "ShAR"),
        (lambda c: c.handshake().send(1, False, "RA"), "RSTR", "ShAr"),
        (lambda c: c.handshake().send(1, True, "PA", b"x"), "S1", "ShAD"),
        (lambda c: c.handshake().send(1, True, "FA"), "S2", "ShAF"),
        (lambda c: c.handshake().send(1, False, "FA"), "S3", "ShAf"),
        (lambda c: c.send(0, True, "S").send(0.1, True, "R"), "RSTOS0", "SR"),
        (lambda c: c.send(0, False, "SA").send(0.1, True, "A"), "S1", "^hA"),  # missed SYN, server port 502
        (lambda c: c.send(0, True, "PA", b"x").send(0.1, False, "PA", b"y"), "OTH", "Dd"),
    ],
)
def test_tcp_states(make_pcap, script, state, history):
    c = Conv()
    script(c)
    [f] = flows_of(make_pcap, c.frames)
    assert (f["conn_state"], f["history"]) == (state, history)


def test_syn_retransmission_after_attempt_timeout_starts_a_new_flow(make_pcap):
    """Zeek gives up on an unanswered SYN after 5 s: a later retransmission is a new connection."""
    c = Conv()
    for t in (0, 1, 7):
        c.seq[True] = 1000  # same ISN: retransmissions
        c.send(t, True, "S")
    flows = flows_of(make_pcap, c.frames)
    assert [(f["orig_pkts"], f["conn_state"]) for f in flows] == [(2, "S0"), (1, "S0")]


def test_closed_connection_reuse_by_new_syn(make_pcap):
    c = Conv().handshake().send(1, True, "FA").send(1.1, False, "FA").send(1.2, True, "A")
    c.seq = {True: 9000, False: 7000}
    c.handshake(1.5)
    flows = flows_of(make_pcap, c.frames)
    assert [(f["conn_state"], f["orig_pkts"], f["resp_pkts"]) for f in flows] == [("SF", 4, 2), ("S1", 2, 1)]


@pytest.mark.parametrize("gap,expected", [(50, 1), (70, 2)])
def test_udp_idle_timeout_splits(make_pcap, gap, expected):
    frames = [(T0 + int(t * S), frame(CLI, SRV, UDP(sport=5000, dport=47808), b"abc")) for t in (0, 10, 10 + gap)]
    flows = flows_of(make_pcap, frames)
    assert len(flows) == expected
    assert sum(f["orig_pkts"] for f in flows) == 3
    assert all(f["conn_state"] == "S0" and f["history"] == "D" and f["proto"] == "udp" for f in flows)


@pytest.mark.parametrize("idle,expected", [(200, 1), (400, 2)])
def test_tcp_idle_timeout_is_five_minutes_once_established(make_pcap, idle, expected):
    c = Conv().handshake().send(1, True, "PA", b"a").send(1 + idle, True, "PA", b"b")
    assert len(flows_of(make_pcap, c.frames)) == expected


def test_udp_and_icmp_direction(make_pcap):
    dns_reply = frame(SRV, CLI, UDP(sport=53, dport=33000), b"r")  # reply seen first: Zeek flips
    ping = frame(CLI, SRV, ICMP(type=8, id=1))
    pong = frame(SRV, CLI, ICMP(type=0, id=1))
    flows = flows_of(make_pcap, [(T0, dns_reply), (T0 + 1, ping), (T0 + 2, pong)])
    udp = next(f for f in flows if f["proto"] == "udp")
    assert (udp["orig_h"], udp["orig_p"], udp["resp_p"], udp["history"], udp["conn_state"]) == \
        ("10.0.0.1", 33000, 53, "^d", "SHR")
    icmp = next(f for f in flows if f["proto"] == "icmp")
    assert (icmp["orig_h"], icmp["orig_p"], icmp["resp_p"], icmp["orig_pkts"], icmp["resp_pkts"]) == \
        ("10.0.0.1", 8, 0, 1, 1)


def test_l2_flows(make_pcap):
    who_has = bytes(Ether(src=CLI[0], dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLI[1], pdst=SRV[1]))
    [f] = whole_flows([make_pcap([(T0, who_has), (T0 + S, who_has)])])
    assert (f["proto"], f["ethertype"], f["orig_h"], f["resp_h"], f["orig_pkts"]) == ("l2", 0x0806, "", "", 2)
    assert (f["orig_l2_addr"], f["resp_l2_addr"]) == (CLI[0], "ff:ff:ff:ff:ff:ff")
    assert f["orig_ip_bytes"] == 2 * len(who_has)


def test_interval_records_sum_to_totals(make_pcap):
    frames = [(T0 + int(t * S), frame(CLI, SRV, UDP(sport=5000, dport=502), b"x" * 10)) for t in range(0, 170, 5)]
    frames += [(T0 + int(t * S) + 1, frame(SRV, CLI, UDP(sport=502, dport=5000), b"y" * 4)) for t in range(0, 170, 10)]
    path = make_pcap(sorted(frames, key=lambda x: x[0]))
    batches = list(iter_batches([path], interval=60.0))
    assert len(batches) >= 3
    rows = [r for b in batches for r in b.tables["flows"].to_pylist()]
    assert len({r["uid"] for r in rows}) == 1
    assert [r["final"] for r in rows] == [False] * (len(rows) - 1) + [True]
    assert sum(r["orig_pkts"] for r in rows) == 34 and sum(r["resp_pkts"] for r in rows) == 17
    assert sum(r["orig_bytes"] for r in rows) == 340 and sum(r["resp_bytes"] for r in rows) == 68
    assert len({r["ts"] for r in rows}) == 1
    for b, r in zip(batches, rows):
        assert b.interval_start <= r["ts_end"] < b.interval_end
        assert r["duration"] == pytest.approx((r["ts_end"] - r["ts"]).total_seconds())
    whole = whole_flows([path])
    assert [(w["orig_pkts"], w["resp_pkts"], w["orig_bytes"]) for w in whole] == [(34, 17, 340)]


def test_counters_and_malformed_packets(make_pcap):
    good = frame(CLI, SRV, UDP(sport=1, dport=2), b"z")
    frames = [(T0, good), (T0 + 1, good[:20]), (T0 + 2, bytes(Ether(src=CLI[0], dst=SRV[0], type=0x88CC) / b"l"))]
    path = make_pcap(frames)
    path.write_bytes(path.read_bytes() + b"\x01\x02\x03")  # a damaged trailing record
    [b] = list(iter_batches([path], sensor="S-1"))
    # the one-byte LLDP frame is a whole Ethernet frame but a malformed LLDPDU: a decode error
    assert b.counters == {"packets": 4, "bytes": len(good) + 20 + 15, "parse_errors": 2, "kernel_drops": 0,
                          "non_ip_packets": 1, "decode_errors": 1, "evicted_flows": 0, "dropped_events": 0}
    flows = b.tables["flows"]
    assert flows.schema.equals(wire.FLOWS)
    assert sum(flows["orig_pkts"].to_pylist()) + sum(flows["resp_pkts"].to_pylist()) == 2
    assert b.sensor == "S-1" and wire.decode(wire.encode(b)).rows("flows") == flows.num_rows


class FakeObserver:
    UDP_PORTS = frozenset({67})

    def __init__(self):
        self.packets, self.pairs = [], []

    def packet(self, ts, src_mac, dst_mac, ethertype, src_ip, dst_ip, sport, dport, payload):
        self.packets.append((ts, src_mac, dst_mac, ethertype, src_ip, dst_ip, sport, dport, payload))

    def ip_pairs(self, ts, pairs):
        self.pairs.append((ts, sorted(pairs)))

    def flush(self):
        obs = [{"ts": 0, "mac": "m", "ip": "", "attribute": "vendor", "value": "v", "source": "oui", "confidence": 5}]
        return obs, []


def test_observer_hook(make_pcap):
    dhcp = frame(CLI, SRV, UDP(sport=68, dport=67), b"dhcp!")
    arp = bytes(Ether(src=CLI[0], dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLI[1], pdst=SRV[1]))
    other = frame(SRV, CLI, UDP(sport=9, dport=10), b"-")
    obs = FakeObserver()
    batches = list(iter_batches([make_pcap([(T0, dhcp), (T0 + 1, arp), (T0 + 2, other)])], observer=obs))
    assert [p[3:] for p in obs.packets] == [
        (0x0800, "10.0.0.1", "10.0.0.2", 68, 67, b"dhcp!"),
        (0x0806, None, None, 0, 0, bytes(arp[14:])),
    ]
    assert obs.packets[0][:3] == (T0 / S, CLI[0], SRV[0])
    assert obs.pairs == [(pytest.approx(batches[0].interval_end.timestamp()), sorted([CLI, SRV]))]
    assert batches[0].tables["observations"].num_rows == 1


def test_corpus_packet_accounting(corpus):
    """Over real captures: flow packets + parse errors = packets, and every batch is schema-valid."""
    with open(corpus / "MANIFEST.csv", newline="") as f:
        paths = [corpus / r["path"] for r in csv.DictReader(f) if r["packets"]][::4]
    totals = dict.fromkeys(wire.COUNTERS, 0)
    flow_pkts = 0
    for b in iter_batches(paths, interval=60.0):
        for k, v in b.counters.items():
            totals[k] += v
        flow_pkts += sum(b.tables["flows"]["orig_pkts"].to_pylist()) + sum(b.tables["flows"]["resp_pkts"].to_pylist())
    assert totals["packets"] > 10_000
    assert flow_pkts + totals["parse_errors"] == totals["packets"]


@pytest.mark.parametrize("name,content", [
    ("damaged.pcap", bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000") + b"\x01" * 10),
    ("damaged.pcapng", bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000") + b"\x06\0\0\0\xff"),
])
def test_only_damaged_records(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    [b] = list(iter_batches([path]))
    assert (b.counters["packets"], b.counters["parse_errors"], b.tables["flows"].num_rows) == (1, 1, 0)
