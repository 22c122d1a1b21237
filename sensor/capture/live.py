"""Live capture on the mirror port with Scapy's AF_PACKET socket, as chunks of frames.

Packets are read without blocking and packed into the ``Frames`` chunks the file reader yields,
one chunk per ``tick`` seconds (or ``CHUNK`` packets). A chunk carries the kernel's drop count
since the previous one and, when the socket had been read empty, the wall-clock time by which
every packet was in: the pipeline closes intervals with that time even when the port is quiet.
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np

from sensor.capture import kdrops, mirror
from sensor.capture.pcapfile import CHUNK, Frames

SNAPLEN = 262144  # as tcpdump's: no Ethernet frame (nor loopback super-packet) is cut short
SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max
LINKTYPE_ETHERNET = 1  # mirror ports are Ethernet; Linux loopback frames carry an Ethernet header too
WAKE = 0.25  # seconds between looks at the stop flag while the port is quiet


class LiveCapture:
    def __init__(self, interface: str, bpf_filter: str = "", buffer_mb: int = 64):
        self.sock = mirror.LiveSource().open(interface, bpf_filter)
        raw = self.sock.ins
        try:
            raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, buffer_mb << 20)
        except PermissionError:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_mb << 20)
        raw.setblocking(False)
        # Scapy opens the socket unfiltered, with no buffer and on every interface until bound: what the
        # kernel dropped then was never ours to capture. Reading the counters resets them.
        kdrops.read_drops(raw)
        # On loopback the kernel shows every packet twice, outgoing then incoming: keep one (as libpcap)
        self.loopback = int((mirror.SYS_NET / interface / "flags").read_text(), 16) & mirror.IFF_LOOPBACK

    def close(self) -> None:
        self.sock.close()

    def chunks(self, stop: threading.Event, tick: float = 1.0) -> Iterator[Frames]:
        """Chunks until ``stop`` is set; the last one holds what was queued at that moment."""
        while not stop.is_set():
            yield self._read(time.monotonic() + tick, stop)
        yield self._read(math.inf, stop)  # read until the queue is empty (not only the next 256 frames)

    def _read(self, until: float, stop: threading.Event) -> Frames:
        data, stamps, clock = bytearray(), [], None
        offsets, lengths = [], []
        while len(stamps) < CHUNK:
            try:
                frame, addr, ts = self.sock._recv_raw(self.sock.ins, SNAPLEN)  # keeps VLAN tags, kernel time
            except BlockingIOError:
                clock = time.time()  # the queue is empty: every packet up to now has been read
                left = until - time.monotonic()
                if left <= 0 or stop.is_set():
                    break
                select.select([self.sock.ins], [], [], min(left, WAKE))
                continue
            if not frame or self.loopback and addr[2] == socket.PACKET_OUTGOING:
                continue
            offsets.append(len(data))
            lengths.append(len(frame))
            stamps.append(ts or time.time())
            data += frame
            if len(stamps) % 256 == 0 and time.monotonic() >= until:
                break
        caplen = np.array(lengths, np.int32)
        return Frames(np.frombuffer(bytes(data), np.uint8), np.rint(np.array(stamps) * 1e6).astype(np.int64),
                      np.array(offsets, np.int64), caplen, caplen.copy(),
                      np.full(len(caplen), LINKTYPE_ETHERNET, np.int32),
                      kernel_drops=kdrops.read_drops(self.sock.ins),
                      clock=None if clock is None else int(clock * 1e6))
