"""Live capture on a real veth pair, chiefly the TPACKET_V3 path (sensor/capture/tpacket.py): frames
sent into one end with a raw socket are captured at the other exactly as sent (by the Scapy socket
too), give the same flows as `analyze` of the file they came from, kernel drops are counted from the
kernel's counter, damaged frames are counted without stopping the capture, a stop ends the capture
while the port stays busy, and a chunk's clock never runs ahead of a frame still in the ring."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack

import numpy as np
import pytest

from bench import veth
from sensor.capture.live import LiveCapture
from sensor.capture.mirror import CaptureUnavailable
from sensor.capture import tpacket
from sensor.capture.tpacket import PacketRing
from sensor.capture.pcapfile import Frames, iter_frames
from sensor.meter.pipeline import Stats, iter_intervals
from sensor.simulate import write_pcap

pytestmark = pytest.mark.skipif(bool(veth.available()), reason=veth.available() or "veth pairs available")

KEY = ("vlan", "orig_l2_addr", "resp_l2_addr", "orig_h", "orig_p", "resp_h", "resp_p", "proto", "service")
TOTALS = ("orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_ip_bytes", "resp_ip_bytes")


@pytest.fixture(scope="module")
def link():
    with ExitStack() as stack:
        try:
            ends = stack.enter_context(veth.pair("tp"))
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create a veth pair: {exc.stderr.decode().strip()}")
        yield ends


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """A small simulated plant capture and its frames, in file order."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=3000, seed=3)
    frames = [f.buf[o : o + c].tobytes() for f in iter_frames(path) for o, c in zip(f.offset.tolist(), f.caplen.tolist())]
    return path, frames


def send(interface: str, frames: list[bytes]) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
        tx.bind((interface, 0))
        for frame in frames:
            tx.send(frame)


def captured(ring: PacketRing | LiveCapture) -> list[Frames]:
    """Every chunk of what the ring (or socket) holds now (the capture stopped)."""
    stop = threading.Event()
    stop.set()
    try:
        return list(ring.chunks(stop))
    finally:
        ring.close()


def frame_bytes(chunks: list[Frames]) -> list[bytes]:
    return [c.buf[o : o + n].tobytes() for c in chunks for o, n in zip(c.offset.tolist(), c.caplen.tolist())]


def flow_totals(source) -> dict[tuple, Counter]:
    """Packet and byte totals per flow (VLAN, addresses, ports, protocol, service), summed over its records."""
    totals: dict[tuple, Counter] = defaultdict(Counter)
    for iv in iter_intervals([source]):
        f = iv.flows.to_pydict()
        for i in range(len(f["uid"])):
            key = tuple(f[name][i] for name in KEY)
            totals[key].update({name: f[name][i] for name in TOTALS})
    return dict(totals)


@pytest.fixture(params=[PacketRing, LiveCapture], ids=["tpacket", "scapy"])
def capture_path(request):
    return request.param


def test_a_replay_is_captured_exactly(link, plant, capture_path):
    """Every frame arrives once, byte for byte and in order, and the flows' totals equal `analyze`'s
    of the file (for the Scapy socket too: the frames still queued when the capture stops are read)."""
    path, frames = plant
    ring = capture_path(link[1])
    sending = time.time_ns() // 1000
    send(link[0], frames)
    chunks = captured(ring)
    assert frame_bytes(chunks) == frames
    assert sum(c.kernel_drops for c in chunks) == 0 and sum(c.errors for c in chunks) == 0
    stamps = np.concatenate([c.ts for c in chunks])
    assert sending <= stamps.min() and stamps.max() <= time.time_ns() // 1000  # arrival times in µs
    live = flow_totals(chunks)
    assert live == flow_totals(path) and len(live) > 50


def test_vlan_tags_are_put_back(link, plant, capture_path):
    """The kernel moves an 802.1Q tag out of the frame into the ring's header (or the socket's
    auxiliary data); the frame captured is the one sent, tag included (as libpcap gives it)."""
    _, frames = plant
    tagged = [f[:12] + bytes.fromhex("8100 0064") + f[12:] for f in frames[:20]]
    tagged.append(frames[0][:12] + bytes.fromhex("88a8 0005 8100 0064") + frames[0][12:])  # Q-in-Q
    ring = capture_path(link[1])
    send(link[0], tagged)
    assert frame_bytes(captured(ring)) == tagged


def test_kernel_drops_are_counted(link, plant):
    """Frames sent while nobody reads overflow a 2 MiB ring: the kernel's drop count reaches the
    interval counters, and every frame is either captured or counted as dropped."""
    _, frames = plant
    ring = PacketRing(link[1], buffer_mb=2)
    sent = frames * 5  # about 6 MB
    send(link[0], sent)
    stats = Stats()
    counters = Counter()
    for iv in iter_intervals([captured(ring)], stats=stats):
        counters.update(iv.counters)
    assert counters["kernel_drops"] > 0
    assert counters["packets"] + counters["kernel_drops"] == len(sent) and stats.read == counters["packets"]


def test_damaged_frames_are_counted_and_capture_goes_on(link, plant):
    """Malformed IP frames between good frames: each is captured and counted as a parse error with
    its reason, and the good frames around them make the same flows as without them."""
    _, frames = plant
    eth = frames[0][:12]
    ipv4 = bytes.fromhex("4500 0028 0001 0000 4006 0000 0a00 0001 0a00 0002")
    damaged = [
        eth + b"\x08\x00" + ipv4[:10],  # IPv4 header cut short
        eth + b"\x08\x00" + b"\x42" + ipv4[1:],  # header length 8 bytes
        eth + b"\x08\x00" + b"\x65" + ipv4[1:],  # version 6 under the IPv4 EtherType
        eth + b"\x08\x00" + ipv4[:9] + b"\x06" + ipv4[10:] + b"\x00\x50",  # TCP header cut short
        eth + b"\x86\xdd" + bytes(20),  # IPv6 header cut short
    ]
    good = frames[:1000]
    ring = PacketRing(link[1])
    send(link[0], damaged + good[:500] + damaged + good[500:])
    chunks = captured(ring)
    stats = Stats()
    flows = flow_totals(chunks)
    for _ in iter_intervals([chunks], stats=stats):
        pass
    assert stats.read == len(good) + 2 * len(damaged) and stats.balanced
    assert sum(stats.errors.values()) == 2 * len(damaged), stats.errors
    assert set(stats.errors) <= {"link", "ip", "transport"}
    assert flows == flow_totals([iter_frames_of(good)])  # the damaged frames are in no flow


def iter_frames_of(frames: list[bytes]) -> Frames:
    """``frames`` as one chunk, stamped 1 ms apart (as if read from a file)."""
    buf = b"".join(frames)
    lengths = np.array([len(f) for f in frames], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ts = 1_767_571_200_000_000 + 1000 * np.arange(len(frames), dtype=np.int64)
    return Frames(np.frombuffer(buf, np.uint8), ts, offsets, lengths, lengths.copy(), np.ones(len(frames), np.int32))


def test_bad_settings_are_refused(link):
    with pytest.raises(CaptureUnavailable, match="bad capture filter 'udp port'"):
        PacketRing(link[1], "udp port")
    with pytest.raises(CaptureUnavailable, match="cannot capture on no-such-if0: "):
        PacketRing("no-such-if0")


def test_the_filter_keeps_only_what_it_matches(link, plant):
    _, frames = plant
    ring = PacketRing(link[1], "arp")
    send(link[0], frames)
    arp = [f for f in frames if f[12:14] == b"\x08\x06"]
    assert arp and frame_bytes(captured(ring)) == arp


def test_no_drops_counted_from_before_the_filter(link):
    """Scapy opens its socket unfiltered, with no buffer and on every interface until it is bound: what
    the kernel dropped then was never the capture's. A busy port at start is 0 drops, not dozens."""
    busy = threading.Event()

    def flood():
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((link[0], 0))
            seq = 0
            while not busy.is_set():
                tx.send(numbered(seq := seq + 1))

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        drops = [sum(c.kernel_drops for c in captured(LiveCapture(link[1], "arp"))) for _ in range(5)]
    finally:
        busy.set()
        sender.join()
    assert drops == [0] * 5


def numbered(seq: int) -> bytes:
    """A broadcast frame of the local experimental EtherType carrying ``seq``."""
    return bytes.fromhex("ffffffffffff 020000000001 88b5") + seq.to_bytes(4, "big") + bytes(42)


def test_a_stop_ends_while_the_port_stays_busy(link, monkeypatch):
    """A mirror port never goes quiet: frames keep arriving faster than the consumer takes chunks,
    yet a stop ends the capture once the ring holds no frame that came before it, and every frame
    sent before the stop is read once, in order, none dropped."""
    monkeypatch.setattr(tpacket, "CHUNK", 50)  # a consumer slower than the port: about a block per 0.1 s
    ring = PacketRing(link[1])
    sent, sending = [0], threading.Event()
    sending.set()

    def sender():
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((link[0], 0))
            while sending.is_set():
                for _ in range(20):
                    tx.send(numbered(sent[0]))
                    sent[0] += 1
                time.sleep(0.01)  # about 2,000 frames/s, two blocks per 0.1 s (the kernel's timer hands them over)

    thread = threading.Thread(target=sender)
    thread.start()
    stop, chunks, started = threading.Event(), [], time.monotonic()
    try:
        for chunk in ring.chunks(stop, tick=0.1):
            chunks.append(chunk)
            time.sleep(0.1)  # the pipeline's time for a chunk
            if not stop.is_set() and time.monotonic() - started > 0.5:
                sent_before_stop, stopped = sent[0], time.monotonic()
                stop.set()
            elif stop.is_set() and time.monotonic() - stopped > 5:
                sending.clear()  # (the stop has not ended the capture: let the port go quiet)
        took = time.monotonic() - stopped
    finally:
        sending.clear()
        thread.join()
        ring.close()
    seq = [int.from_bytes(frame[14:18], "big") for frame in frame_bytes(chunks)]
    assert seq == list(range(len(seq))) and len(seq) >= sent_before_stop
    assert sum(c.kernel_drops for c in chunks) == 0 and sum(c.errors for c in chunks) == 0
    assert took < 3, f"the stop took {took:.1f} s"


def test_the_clock_never_runs_ahead_of_a_frame_in_the_ring(link):
    """A chunk's clock says every frame up to it is in: no frame read later is older, although a
    frame sent just before a read waits in the block being filled until the kernel's timer hands it over."""
    ring = PacketRing(link[1])
    stop = threading.Event()
    reads = ring.chunks(stop, tick=0)
    chunks = []
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
        tx.bind((link[0], 0))
        for seq in range(5):
            tx.send(numbered(seq))
            chunks.append(next(reads))
    stop.set()
    chunks += list(reads)
    ring.close()
    assert len(frame_bytes(chunks)) == 5
    every_frame_in = np.iinfo(np.int64).min
    for chunk in chunks:
        assert (chunk.ts >= every_frame_in).all(), (chunk.ts - every_frame_in) / 1000  # ms
        if chunk.clock is not None:
            every_frame_in = max(every_frame_in, chunk.clock)


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_a_block_is_read_in_either_byte_order(order, plant):
    """The kernel writes the ring's headers in the host's byte order: a handed-over block laid out
    as on a little- or big-endian host gives back its frames, the 802.1Q tag the kernel took out
    (``tp_vlan_tci``, a 32-bit field) put back, and the block is given back to the kernel."""
    _, frames = plant
    plain, tagged = frames[0], frames[1]
    ring = np.zeros(4096, np.uint8)
    pkt, mac = 48, 48 + 32  # the block's header, then each frame's header, sockaddr_ll and frame
    struct.pack_into(order + "5I", ring, 0, 1, 0, tpacket.TP_STATUS_USER, 2, pkt)  # version .. offset_to_first_pkt
    for frame, status, tci, last in ((tagged, tpacket.TP_STATUS_VLAN_VALID, 0xE064, False), (plain, 0, 0, True)):
        step = 0 if last else (mac + len(frame) + 15) // 16 * 16
        struct.pack_into(order + "6I2H2IH", ring, pkt, step, 1_767_571_200, 5000, len(frame), len(frame),
                         tpacket.TP_STATUS_USER | status, mac, mac + 14, 0, tci, 0x8100)
        ring[pkt + mac : pkt + mac + len(frame)] = np.frombuffer(frame, np.uint8)
        pkt += step
    chunk = tpacket._Chunk()
    chunk.n, chunk.used, damaged = tpacket._take_block(ring, 0, len(ring), order == ">", False, chunk.out, 0, 0,
                                                       chunk.ts, chunk.offs, chunk.caplen, chunk.wirelen)
    assert damaged == 0 and ring[8:12].tolist() == [0, 0, 0, 0]  # TP_STATUS_KERNEL
    assert frame_bytes([chunk.frames(0, None)]) == [tagged[:12] + bytes.fromhex("8100 e064") + tagged[12:], plain]
    assert chunk.ts[:2].tolist() == [1_767_571_200_000_005] * 2
