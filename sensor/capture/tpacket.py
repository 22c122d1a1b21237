"""Live capture through the kernel's memory-mapped packet ring (AF_PACKET, TPACKET_V3), no C binding.

The kernel writes frames into a ring of blocks shared with us (``PACKET_RX_RING``) and hands over a
block when it is full or when its timer (every ``RETIRE_MS``) finds frames in it: no system call per
frame. A numba loop walks each handed-over block, copies its frames into the chunk being built
(putting back the VLAN tag the kernel moved into the frame header, as libpcap does) and gives the
block back, so a chunk costs a few calls per block instead of one Python call per frame. Chunks carry what the pipeline wants
(``pcapfile.Frames``): kernel drops since the last chunk (``PACKET_STATISTICS``) and the wall-clock
time by which every frame was in when the ring had been read empty.
"""

from __future__ import annotations

import ctypes
import mmap
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np

from sensor.capture import kdrops, mirror
from sensor.capture.pcapfile import CHUNK, Frames, _u32
from sensor.jit import njit

SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_RX_RING, PACKET_VERSION = 263, 1, 5, 10  # <linux/if_packet.h>
TPACKET_V3, PACKET_MR_PROMISC = 2, 1
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # the classic BPF program "ret #0": no frame is kept
TP_STATUS_USER, TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x1, 0x10, 0x40
PACKET_OUTGOING = 4
BLOCK_SIZE = 1 << 20  # bytes per ring block (a power of two times the page size)
FRAME_SIZE = 1 << 11  # TPACKET_V3 ignores it beyond checking block_size is a multiple
RETIRE_MS = 50  # the period of the kernel's timer that hands over a block with frames, full or not
# a frame waits in the block being filled for a timer period (rounded up to whole jiffies) and the
# timer's lateness: three periods bound it
HANDED_OVER = 3 * RETIRE_MS / 1000
CHUNK_BYTES = 32 << 20  # a chunk ends at this many frame bytes (or CHUNK frames, or its tick)
WAKE = 0.25  # seconds between looks at the stop flag while the port is quiet
LINKTYPE_ETHERNET = 1
HDR_LEN = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)); struct sockaddr_ll follows it
BIG = sys.byteorder == "big"  # the kernel writes the ring's headers in host byte order


@njit(cache=True)
def _u16(buf, off, big):
    """The unsigned 16-bit field at ``off`` (big-endian if ``big``), as int64."""
    if big:
        return (np.int64(buf[off]) << 8) | np.int64(buf[off + 1])
    return np.int64(buf[off]) | (np.int64(buf[off + 1]) << 8)


@njit(cache=True)
def _take_block(ring, base, size, big, skip_outgoing, out, used, n, ts, offs, caplen, wirelen):
    """Copy the frames of the handed-over block at ``base`` (its headers big-endian if ``big``) into
    ``out`` from ``used`` and the columns from ``n``, then give the block back to the kernel. Returns
    (n, used, damaged): a header pointing outside the block (which the kernel never writes) ends the
    block as damaged."""
    count = _u32(ring, base + 12, big)
    pkt = base + _u32(ring, base + 16, big)
    damaged = 0
    for _ in range(count):
        if pkt < base or pkt + HDR_LEN + 12 > base + size:
            damaged = 1
            break
        snap, length, status = _u32(ring, pkt + 12, big), _u32(ring, pkt + 16, big), _u32(ring, pkt + 20, big)
        start = pkt + _u16(ring, pkt + 24, big)
        if start + snap > base + size or snap > length or n >= len(ts) or used + snap + 4 > len(out):
            damaged = 1
            break
        if not (skip_outgoing and ring[pkt + HDR_LEN + 10] == PACKET_OUTGOING):
            tci = _u32(ring, pkt + 32, big) & 0xFFFF  # tp_vlan_tci is a 32-bit field
            tagged = ((status & TP_STATUS_VLAN_VALID) != 0 or tci != 0) and snap >= 12
            offs[n] = used
            ts[n] = _u32(ring, pkt + 4, big) * 1_000_000 + _u32(ring, pkt + 8, big) // 1000
            if tagged:  # the kernel took the 802.1Q tag out of the frame: put it back after the MACs
                tpid = _u16(ring, pkt + 36, big) if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                out[used : used + 12] = ring[start : start + 12]
                out[used + 12] = tpid >> 8
                out[used + 13] = tpid & 0xFF
                out[used + 14] = tci >> 8
                out[used + 15] = tci & 0xFF
                out[used + 16 : used + snap + 4] = ring[start + 12 : start + snap]
                caplen[n], wirelen[n] = snap + 4, length + 4
            else:
                out[used : used + snap] = ring[start : start + snap]
                caplen[n], wirelen[n] = snap, length
            used += caplen[n]
            n += 1
        pkt += _u32(ring, pkt, big)  # tp_next_offset
    ring[base + 8 : base + 12] = 0  # block_status = TP_STATUS_KERNEL: the kernel may fill it again
    return n, used, damaged


class _Chunk:
    """The frames of the chunk being built. Its arrays are allocated at the most a chunk can hold
    (a chunk ends once past CHUNK frames or CHUNK_BYTES, so it can hold one block more): pages never
    written are never mapped, and nothing is copied to grow them."""

    def __init__(self):
        self.out = np.empty(CHUNK_BYTES + 2 * BLOCK_SIZE, np.uint8)  # frames' bytes, plus VLAN tags put back
        frames = CHUNK + BLOCK_SIZE // HDR_LEN
        self.ts, self.offs = np.empty(frames, np.int64), np.empty(frames, np.int64)
        self.caplen, self.wirelen = np.empty(frames, np.int32), np.empty(frames, np.int32)
        self.n = self.used = self.damaged = 0

    def frames(self, kernel_drops: int, clock: float | None) -> Frames:
        n = self.n
        return Frames(self.out[: self.used], self.ts[:n], self.offs[:n], self.caplen[:n], self.wirelen[:n],
                      np.full(n, LINKTYPE_ETHERNET, np.int32), errors=self.damaged, kernel_drops=kernel_drops,
                      clock=None if clock is None else int(clock * 1e6))


class PacketRing:
    """A promiscuous TPACKET_V3 capture on ``interface`` with a ring of ``buffer_mb`` MiB."""

    def __init__(self, interface: str, bpf_filter: str = "", buffer_mb: int = 64):
        self.block_nr = max(2, (buffer_mb << 20) // BLOCK_SIZE)
        _take_frames(np.zeros(64, np.uint8), 0, _Chunk(), False)  # load (or compile) the walker before frames come
        self.sock = _open_socket(interface, bpf_filter)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            req = struct.pack("7I", BLOCK_SIZE, self.block_nr, FRAME_SIZE, BLOCK_SIZE // FRAME_SIZE * self.block_nr,
                              RETIRE_MS, 0, 0)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self.map = mmap.mmap(self.sock.fileno(), BLOCK_SIZE * self.block_nr, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
            self.ring = np.frombuffer(self.map, np.uint8)
            self.words = np.frombuffer(self.map, np.uint32)  # host byte order
            self.sock.bind((interface, ETH_P_ALL))  # frames queue from here on, filtered
        except OSError as exc:
            self.sock.close()
            raise mirror.CaptureUnavailable(f"cannot set up the packet ring on {interface}: {exc.strerror or exc}",
                                            "use a Linux kernel with TPACKET_V3 (3.2+), or set capture = \"scapy\"") \
                from None
        self.block = 0  # the next block the kernel hands over
        flags = int((mirror.SYS_NET / interface / "flags").read_text(), 16)
        # on loopback the kernel shows every frame twice, outgoing then incoming: keep one (as libpcap)
        self.skip_outgoing = bool(flags & mirror.IFF_LOOPBACK)

    def close(self) -> None:
        self.ring = self.words = None  # the mapping can close only once no array views it
        try:
            self.map.close()
        except BufferError:  # a view of it is still alive somewhere: the kernel frees the ring with the socket
            pass
        self.sock.close()

    def _ready(self) -> bool:
        return bool(self.words[(self.block * BLOCK_SIZE + 8) // 4] & TP_STATUS_USER)  # the block's status

    def chunks(self, stop: threading.Event, tick: float = 1.0) -> Iterator[Frames]:
        """Chunks until ``stop`` is set; then the ring stops taking frames (a busy port would keep it
        full forever) and the last chunks hold what it held, up to the block the kernel was filling."""
        while not stop.is_set():
            yield self._read(time.monotonic() + tick, stop)
        _drop_every_frame(self.sock)
        drained = time.monotonic() + HANDED_OVER  # the block being filled is handed over by then
        while True:
            yield (last := self._read(drained, None))
            if len(last) < CHUNK and len(last.buf) < CHUNK_BYTES:  # not cut short by size: the ring is empty
                return

    def _filling_empty(self) -> bool:
        """No frame is in the block the kernel fills (its num_pkts; stale, so not empty, if the
        kernel has not opened it yet)."""
        return not self.words[(self.block * BLOCK_SIZE + 12) // 4]

    def _read(self, until: float, stop: threading.Event | None) -> Frames:
        """A chunk of the blocks handed over until ``until`` (or, if ``stop`` is None, of the ring
        taken off the port: until it is read empty, the block being filled included, or ``until``
        has passed), at most CHUNK frames or CHUNK_BYTES."""
        chunk, clock = _Chunk(), None
        while chunk.n < CHUNK and chunk.used < CHUNK_BYTES:
            if not self._ready():
                # every block handed over is read: every frame is in but those of the block being filled
                clock = time.time() - HANDED_OVER
                left = until - time.monotonic()
                if left <= 0 or (self._filling_empty() if stop is None else stop.is_set()):
                    break
                select.select([self.sock], [], [], min(left, WAKE))
                continue
            _take_frames(self.ring, self.block * BLOCK_SIZE, chunk, self.skip_outgoing)
            self.block = (self.block + 1) % self.block_nr
            if stop is not None and time.monotonic() >= until:  # a busy port: one chunk per tick
                break
        return chunk.frames(kdrops.read_drops(self.sock), clock)


def _take_frames(ring: np.ndarray, base: int, chunk: _Chunk, skip_outgoing: bool) -> None:
    chunk.n, chunk.used, damaged = _take_block(ring, base, min(BLOCK_SIZE, len(ring)), BIG, skip_outgoing, chunk.out,
                                               chunk.used, chunk.n, chunk.ts, chunk.offs, chunk.caplen, chunk.wirelen)
    chunk.damaged += damaged


def _drop_every_frame(sock: socket.socket) -> None:
    """Let no frame into the ring from now on (the filter the capture had is replaced)."""
    program = ctypes.create_string_buffer(DROP_ALL, len(DROP_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", 1, ctypes.addressof(program)))


def _open_socket(interface: str, bpf_filter: str) -> socket.socket:
    """An unbound packet socket on nothing yet (no frame queues before the filter is on), in
    promiscuous mode on ``interface`` and with ``bpf_filter`` attached."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise mirror.CaptureUnavailable(
            f"no permission to capture on {interface}",
            "run as root, or grant CAP_NET_RAW and CAP_NET_ADMIN (the systemd unit does)") from None
    try:
        index = socket.if_nametoindex(interface)
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("IHH8s", index, PACKET_MR_PROMISC, 0, b""))
        if bpf_filter:
            _attach_filter(sock, interface, bpf_filter)
    except OSError as exc:
        sock.close()
        raise mirror.CaptureUnavailable(f"cannot capture on {interface}: {exc.strerror or exc}",
                                        "check the interface exists and is up (ip link)") from None
    except mirror.CaptureUnavailable:
        sock.close()
        raise
    return sock


def _attach_filter(sock: socket.socket, interface: str, bpf_filter: str) -> None:
    """Compile ``bpf_filter`` with libpcap (through Scapy, as the Scapy socket does) and attach it."""
    from scapy.arch.linux import attach_filter  # Scapy only where live capture happens
    from scapy.error import Scapy_Exception

    try:
        attach_filter(sock, bpf_filter, interface)
    except Scapy_Exception as exc:
        raise mirror.CaptureUnavailable(f"bad capture filter {bpf_filter!r}: {exc}",
                                        "fix bpf_filter in the sensor config (tcpdump filter syntax)") from None
    except ImportError:  # Scapy compiles filters with libpcap
        raise mirror.CaptureUnavailable("cannot compile the capture filter: libpcap is not installed",
                                        "apt-get install libpcap0.8, or set bpf_filter = \"\"") from None
