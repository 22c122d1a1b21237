"""Kernel drop counters of AF_PACKET capture sockets (``PACKET_STATISTICS``).

The kernel counts, per packet socket, the packets it had to drop because the socket's buffer or
ring was full; reading the counters resets them, so each read returns the drops since the last one.
For our own Scapy socket that is one ``getsockopt``. For a capture tool we run (dumpcap), the
counters live on the tool's socket: we borrow that socket with ``pidfd_getfd`` (Linux 5.6+, allowed
for a parent over its child) and read it there. libpcap in the tool reads and accumulates the same
counters and prints them when the tool exits, so the two reports never count a drop twice.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from pathlib import Path

SOL_PACKET, PACKET_STATISTICS = 263, 6  # <linux/if_packet.h>
SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def read_drops(sock: socket.socket) -> int:
    """Packets dropped by the kernel on ``sock`` since the previous read."""
    _received, drops = struct.unpack_from("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
    return drops


def _packet_socket_inodes() -> set[str]:
    lines = Path("/proc/net/packet").read_text().splitlines()[1:]
    return {line.split()[-1] for line in lines if line.split()}


def borrow_packet_socket(pid: int) -> socket.socket | None:
    """A duplicate of process ``pid``'s packet socket, or None if it has none (yet) or the kernel
    does not let us take it."""
    inodes = _packet_socket_inodes()
    try:
        fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return None
    target = next((int(fd) for fd, link in fds.items()
                   if link.startswith("socket:[") and link[8:-1] in inodes), None)
    if target is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, target, 0)
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd) if fd >= 0 else None
