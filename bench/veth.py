"""A quiet veth pair for live-capture measurements: frames sent into one end arrive at the other and
nothing else does (no IPv6 autoconfiguration, no ARP answers from the host). Needs root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def available() -> str:
    """"" if this process may create veth pairs, else why not."""
    if os.geteuid() != 0:
        return "creating a veth pair needs root"
    if not os.path.isdir("/sys/class/net"):
        return "no /sys/class/net"
    return ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def pair(tag: str) -> Iterator[tuple[str, str]]:
    """(send end, capture end) of a new veth pair named after ``tag`` and this process; deleted on exit."""
    send, capture = f"m{tag}{os.getpid() % 100000}s", f"m{tag}{os.getpid() % 100000}c"
    _ip("link", "add", send, "type", "veth", "peer", "name", capture)
    try:
        for end in (send, capture):
            with open(f"/proc/sys/net/ipv6/conf/{end}/disable_ipv6", "w") as f:
                f.write("1")
            _ip("link", "set", end, "arp", "off", "up")
        yield send, capture
    finally:
        _ip("link", "del", send)  # (its peer goes with it)
