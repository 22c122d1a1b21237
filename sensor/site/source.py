"""The capture `mieruka-sensor run` reads: the mirror port through Scapy's socket, a dumpcap ring or
the kernel's mmap ring (TPACKET_V3), or, for the lab and tests, the interface's stand-in capture file
($MIERUKA_SENSOR_CAPTURE_DIR, read once: the port is quiet after it; a file that is not a capture
counts as one damaged record)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sensor.capture import mirror
from sensor.capture.live import LiveCapture
from sensor.capture.pcapfile import CaptureError, Frames, iter_frames
from sensor.capture.ring import DumpcapRing
from sensor.capture.tpacket import PacketRing
from sensor.site.config import SensorConfig

log = logging.getLogger(__name__)


class StandIn:
    def __init__(self, path: Path):
        self.path = path

    def chunks(self, stop: threading.Event) -> Iterator[Frames]:
        try:
            for frames in iter_frames(self.path):
                if stop.is_set():
                    return
                yield frames
        except CaptureError as exc:
            log.error("%s: counted as a damaged record", exc)
            yield Frames.empty(errors=1, clock=int(time.time() * 1_000_000))

    def close(self) -> None:
        pass


def open_capture(cfg: SensorConfig) -> StandIn | LiveCapture | DumpcapRing | PacketRing:
    """Start capturing on the configured interface; CaptureUnavailable if it cannot be."""
    src = mirror.source()
    if not src.exists(cfg.interface):
        raise mirror.CaptureUnavailable(f"no interface named {cfg.interface}",
                                        "set `interface` in the config to the mirror port, or activate again")
    if isinstance(src, mirror.ReplaySource):
        src.check(cfg.interface)
        return StandIn(src.dir / f"{cfg.interface}.pcap")
    if cfg.capture == "dumpcap":
        return DumpcapRing(cfg.interface, cfg.bpf_filter, Path(cfg.ring_dir), cfg.ring_seconds, cfg.ring_files,
                           cfg.capture_buffer_mb)
    if cfg.capture == "tpacket":
        return PacketRing(cfg.interface, cfg.bpf_filter, cfg.capture_buffer_mb)
    return LiveCapture(cfg.interface, cfg.bpf_filter, cfg.capture_buffer_mb)
