"""Find and check the mirror (SPAN) port by sampling interfaces for a few seconds.

A management port sees frames to or from its own MAC, plus broadcast and multicast; a mirror port
sees unicast conversations between *other* hosts, and the busiest such port is the one to capture.
Frames come from a live AF_PACKET socket in promiscuous mode (Scapy), or, for the lab and tests,
from ``<dir>/<interface>.pcap`` files when ``$MIERUKA_SENSOR_CAPTURE_DIR`` names such a directory
(an optional ``<interface>.mac`` file gives that stand-in interface's own MAC).
"""

from __future__ import annotations

import logging
import os
import select
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sensor.errors import Problem

REPLAY_ENV = "MIERUKA_SENSOR_CAPTURE_DIR"
SYS_NET = Path("/sys/class/net")
IFF_UP, IFF_LOOPBACK = 0x1, 0x8
ARPHRD_ETHER = 1  # a mirror port is Ethernet (unlike the LTE modem's raw-IP wwan interface)


class CaptureUnavailable(Problem):
    """Capturing on an interface is not possible."""


@dataclass(frozen=True)
class Sample:
    interface: str
    seconds: float
    frames: int
    mirrored: int  # unicast frames between two hosts other than this interface
    mirrored_bytes: int


def count_mirrored(interface: str, frames: list[bytes], own_mac: bytes, seconds: float) -> Sample:
    mirrored = [f for f in frames
                if len(f) >= 14 and not f[0] & 1 and own_mac not in (f[0:6], f[6:12])]
    return Sample(interface, seconds, len(frames), len(mirrored), sum(map(len, mirrored)))


class LiveSource:
    """The host's interfaces, captured through Scapy's AF_PACKET listen socket."""

    def interfaces(self) -> list[str]:
        """Ethernet interfaces that are up, loopback excluded."""
        names = []
        for path in sorted(SYS_NET.iterdir()):
            flags = int((path / "flags").read_text(), 16)
            ether = int((path / "type").read_text()) == ARPHRD_ETHER
            if ether and flags & IFF_UP and not flags & IFF_LOOPBACK:
                names.append(path.name)
        return names

    def exists(self, name: str) -> bool:
        return (SYS_NET / name).is_dir()

    def own_mac(self, name: str) -> bytes:
        return bytes.fromhex((SYS_NET / name / "address").read_text().strip().replace(":", ""))

    def open(self, name: str, bpf_filter: str = ""):
        """A promiscuous Scapy listen socket on ``name``, keeping only what ``bpf_filter`` matches."""
        from scapy.arch.linux import L2ListenSocket  # Scapy only where live capture happens
        from scapy.error import Scapy_Exception

        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # "unable to guess type" noise
        try:
            return L2ListenSocket(iface=name, promisc=True, filter=bpf_filter or None)
        except Scapy_Exception as exc:
            raise CaptureUnavailable(f"bad capture filter {bpf_filter!r}: {exc}",
                                     "fix bpf_filter in the sensor config (tcpdump filter syntax)") from None
        except PermissionError:
            raise CaptureUnavailable(
                f"no permission to capture on {name}",
                "run as root, or grant CAP_NET_RAW and CAP_NET_ADMIN (the systemd unit does)") from None
        except OSError as exc:
            raise CaptureUnavailable(f"cannot capture on {name}: {exc.strerror or exc}",
                                     "check the interface exists and is up (ip link)") from None

    def check(self, name: str) -> None:
        """Open (and close) a promiscuous capture socket, or raise CaptureUnavailable."""
        self.open(name).close()

    def frames(self, name: str, seconds: float) -> list[bytes]:
        sock = self.open(name)
        out = []
        try:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                if select.select([sock], [], [], left)[0]:
                    out.append(bytes(sock.recv_raw(65535)[1] or b""))
        finally:
            sock.close()
        return out


class ReplaySource:
    """Stand-in interfaces: ``<name>.pcap`` files in a directory (lab, tests)."""

    def __init__(self, directory: Path):
        self.dir = directory

    def interfaces(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.pcap"))

    def exists(self, name: str) -> bool:
        return (self.dir / f"{name}.pcap").is_file()

    def own_mac(self, name: str) -> bytes:
        mac = self.dir / f"{name}.mac"
        return bytes.fromhex(mac.read_text().strip().replace(":", "")) if mac.exists() else b""

    def check(self, name: str) -> None:
        if not os.access(self.dir / f"{name}.pcap", os.R_OK):
            raise CaptureUnavailable(f"cannot capture on {name}: no readable {name}.pcap in {self.dir}",
                                     f"check ${REPLAY_ENV}")

    def frames(self, name: str, seconds: float) -> list[bytes]:
        from scapy.utils import RawPcapReader

        self.check(name)
        with RawPcapReader(str(self.dir / f"{name}.pcap")) as reader:
            return [bytes(data) for data, _ in reader]


def source() -> LiveSource | ReplaySource:
    replay = os.environ.get(REPLAY_ENV)
    return ReplaySource(Path(replay)) if replay else LiveSource()


def sample(src: LiveSource | ReplaySource, names: list[str], seconds: float) -> list[Sample]:
    """Sample the interfaces side by side for ``seconds``; CaptureUnavailable if any cannot be."""

    def one(name: str) -> Sample:
        return count_mirrored(name, src.frames(name, seconds), src.own_mac(name), seconds)

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return list(pool.map(one, names))


def busiest(samples: list[Sample]) -> Sample | None:
    """The sample with the most mirrored bytes, or None when no interface saw any."""
    best = max(samples, key=lambda s: s.mirrored_bytes, default=None)
    return best if best and best.mirrored else None
