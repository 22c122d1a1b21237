"""What a capture file holds, counted independently of the sensor (dpkt, not our reader)."""

from __future__ import annotations

from pathlib import Path

import dpkt


def capture_totals(path: Path) -> dict:
    """Packets, frame bytes and IP-layer bytes of a capture."""
    packets = frame_bytes = layer_bytes = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            packets += 1
            frame_bytes += len(buf)
            ip = eth.data
            layer_bytes += ip.len if isinstance(ip, (dpkt.ip.IP,)) else len(buf)
    return {"packets": packets, "frame_bytes": frame_bytes, "layer_bytes": layer_bytes}
