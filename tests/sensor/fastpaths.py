"""Run a capture through the app layer on the compiled paths and on the Python path and compare."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pytest

from sensor.meter import applayer
from sensor.meter.fold import _key, fold_events
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import PCAP_HEADER, PCAP_RECORD, Host, tcp_frame, udp_frame, write_pcap

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def plant(tmp_path_factory) -> Path:
    """The simulated plant both compiled paths' tests read (30,000 packets)."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=30_000, seed=3)
    return path


def canonical(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)


def run(path: Path, compiled: bool, folded: bool, monkeypatch, **options) -> list[tuple]:
    """Per interval: (events as the app layer hands them over, observations, decode errors, flow services,
    events dropped over the cap)."""
    monkeypatch.setattr(applayer, "COMPILED", compiled)
    return [(iv.events, canonical(iv.observations), iv.decode_errors, [str(service) for service in iv.flows["service"]],
             iv.counters["dropped_events"])
            for iv in iter_intervals([path], folded=folded, **options)]


def moves(monkeypatch, path_class: type) -> list[int]:
    """The fids a compiled path's flows move to Python with, as they move (filled during runs)."""
    moved: list[int] = []
    move_out = path_class.move_out
    monkeypatch.setattr(path_class, "move_out", lambda self, fid: moved.append(fid) or move_out(self, fid))
    return moved


def agree_on_fuzz(tmp_path: Path, monkeypatch, path_class: type, protocol: str, seed: int, server_port: int,
                  opening: bytes, frame: Callable[[random.Random, bool], bytes], **capture) -> tuple[int, list[int], Path]:
    """A fuzz_capture through both paths, which agree: (its ``protocol`` events, the fids of
    ``path_class`` flows moved to Python, the capture)."""
    path = tmp_path / "fuzz.pcap"
    fuzz_capture(path, seed, server_port, opening, frame, **capture)
    moved = moves(monkeypatch, path_class)
    return assert_paths_agree(path, monkeypatch, protocol), moved, path


def agree_bounded(path: Path, monkeypatch, protocol: str, path_module: ModuleType) -> int:
    """Both paths agree on ``path`` with a flow table of 8 slots (evicted flows' slots reused), then
    with a cap of 40 events an interval on both (``path_module.MAX_EVENTS``); the events dropped."""
    assert_paths_agree(path, monkeypatch, protocol, max_flows=8)
    monkeypatch.setattr(path_module, "MAX_EVENTS", 40)  # (its protocol's cap on both paths)
    assert_paths_agree(path, monkeypatch, protocol)
    return sum(dropped for *_, dropped in run(path, True, False, monkeypatch))


def assert_paths_agree(path: Path, monkeypatch, protocol: str = "modbus", **options) -> int:
    """Both paths agree, per PDU and folded; returns how many ``protocol`` events the capture has."""
    python = run(path, False, False, monkeypatch, **options)
    per_pdu = run(path, True, False, monkeypatch, **options)
    folded = run(path, True, True, monkeypatch, **options)
    assert [(canonical(events), *rest) for events, *rest in per_pdu] == \
        [(canonical(events), *rest) for events, *rest in python]
    assert [(canonical(events), *rest) for events, *rest in folded] == \
        [(canonical(fold_events(events)), *rest) for events, *rest in python]
    for events, *_ in per_pdu + folded:  # the compiled path's rows in time order (canonical() cannot see it)
        times = [row["ts"] for row in events if row["protocol"] == protocol]
        assert times == sorted(times)
    for events, *_ in folded:  # folded once: no two rows of an interval are one event
        assert len({_key(row) for row in events}) == len(events)
    return sum(event["protocol"] == protocol for events, *_ in python for event in events)


CLIENT = Host("hmi", "hmi", "10.9.0.10", "02:00:00:00:00:0a", False, 64)
SERVER = Host("plc", "plc", "10.9.0.20", "02:00:00:00:00:14", False, 64)
T0 = 1_767_225_600_000_000  # µs


def fuzz_capture(path: Path, seed: int, server_port: int, opening: bytes, frame: Callable[[random.Random, bool], bytes],
                 flows: int = 40, segments: int = 40, clean: bool = False) -> None:
    """TCP flows to ``server_port`` (each opened by ``opening``, for detection) of random ``frame``s sent
    whole, several to a segment, split across segments, retransmitted, overlapping, after a gap, or
    truncated by the capture (``clean``: whole and in sequence only); over three 60 s intervals."""
    rng = random.Random(seed)
    records = []
    for n in range(flows):
        port = 40000 + n
        seq = {True: rng.randrange(1 << 32), False: rng.randrange(1 << 32)}
        last: dict[bool, tuple[int, bytes]] = {}
        t = T0 + rng.randrange(60_000_000)
        for i in range(segments):
            from_client = i == 0 or rng.random() < 0.5
            frames = rng.choice((1, 1, 1, 2, 3))
            payload = opening if i == 0 else b"".join(frame(rng, from_client) for _ in range(frames))
            start = seq[from_client]
            roll = 1.0 if clean else rng.random()
            if roll < 0.1 and from_client in last:  # retransmission, or overlap with new bytes after it
                start, old = last[from_client]
                payload = old + (payload if rng.random() < 0.5 else b"")
            elif roll < 0.15:  # a gap: bytes never captured
                start = (start + rng.randrange(1, 50)) & 0xFFFFFFFF
            src, dst, ports = (CLIENT, SERVER, (port, server_port)) if from_client else \
                (SERVER, CLIENT, (server_port, port))
            if 0.15 <= roll < 0.25 and len(payload) > 2:  # a frame split across two segments
                cut = rng.randrange(1, len(payload))
                records.append((t, tcp_frame(src, dst, *ports, start, 1, 0x18, payload[:cut]), None))
                start, payload = (start + cut) & 0xFFFFFFFF, payload[cut:]
            packet = tcp_frame(src, dst, *ports, start, 1, 0x18, payload)
            caplen = len(packet) - rng.randrange(1, len(payload) + 1) if not clean and rng.random() < 0.05 else None
            records.append((t, packet, caplen))
            last[from_client] = (start, payload)
            seq[from_client] = max(seq[from_client], (start + len(payload)) & 0xFFFFFFFF)
            t += rng.choice((0, 1, 900, 20_000, 3_000_000))
    records.sort(key=lambda r: r[0])
    write_capture(path, records)


class Conversation(Protocol):
    """A UDP conversation's datagrams: the client's first (one its protocol is detected by), then either way."""

    def opening(self, rng: random.Random) -> bytes: ...

    def __call__(self, rng: random.Random, from_client: bool) -> bytes: ...


def udp_capture(path: Path, seed: int, server_port: int, conversation: Callable[[], Conversation], flows: int = 24,
                datagrams: int = 40, truncated: float = 0.05) -> None:
    """UDP flows to ``server_port`` from two clients (from that port or another), each a new ``conversation``,
    over three 60 s intervals; ``truncated`` of the datagrams cut short by the capture."""
    rng = random.Random(seed)
    clients = [CLIENT, Host("hmi2", "hmi", "10.9.0.11", "02:00:00:00:00:0b", False, 64)]
    records = []
    for n in range(flows):
        client, port, talk = clients[n % 2], rng.choice((server_port, 40000 + n)), conversation()
        t = T0 + rng.randrange(60_000_000)
        for i in range(datagrams):
            from_client = i == 0 or rng.random() < 0.5
            payload = talk.opening(rng) if i == 0 else talk(rng, from_client)
            src, dst, ports = (client, SERVER, (port, server_port)) if from_client else \
                (SERVER, client, (server_port, port))
            cut = 42 + rng.randrange(len(payload)) if payload and rng.random() < truncated else None  # (42: headers)
            records.append((t, udp_frame(src, dst.mac, dst.ip, *ports, payload), cut))
            t += rng.choice((0, 1, 1_200, 20_000, 3_000_000))
    records.sort(key=lambda r: r[0])
    write_capture(path, records)


def write_capture(path: Path, records: Iterable[tuple[int, bytes, int | None]]) -> None:
    """A pcap of (timestamp in µs, frame, bytes captured of it or None: all) records."""
    out = [PCAP_HEADER]
    for ts, packet, caplen in records:
        data = packet[:caplen] if caplen else packet
        out.append(PCAP_RECORD.pack(*divmod(ts, 1_000_000), len(data), len(packet)) + data)
    path.write_bytes(b"".join(out))
