"""A capture's packets dense in time, as a busy mirror port delivers them.

The simulated plant spans about an hour at ~295 packets/s (``sensor.simulate.NOMINAL_PPS``): a sensor
reading it meets an interval end every few thousand packets. ``write`` copies a classic pcap with
every timestamp moved towards the first so that the packets arrive at ``pps`` packets per second:
the same frames in the same order, the gaps between them scaled by one factor (µs resolution, so
packets closer than 1 µs share a timestamp).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from sensor.capture.pcapfile import iter_frames

US = 1_000_000
RECORD = 16  # a classic pcap record header: seconds, µs, captured and wire length (uint32 each)


def write(src: Path, dst: Path, pps: float = 1e6) -> dict:
    """Copy the little-endian µs pcap ``src`` to ``dst`` with its packets at ``pps``; return what
    the copy spans."""
    raw = np.fromfile(src, np.uint8)
    if struct.unpack_from("<I", raw)[0] != 0xA1B2C3D4:
        raise ValueError(f"{src}: not a little-endian µs pcap")
    ts, offset = [], []
    for frames in iter_frames(src):
        ts.append(frames.ts)
        offset.append(frames.offset)
    ts, offset = np.concatenate(ts), np.concatenate(offset)
    first, span = int(ts[0]), int(ts[-1] - ts[0])
    target = round(len(ts) / pps * US)
    dense = first + (ts - first) * target // max(span, 1)  # (hours of µs × 10^6: far within int64)
    for field, values in ((0, dense // US), (4, dense % US)):
        at = offset - RECORD + field
        for byte, part in enumerate(values.astype("<u4").view(np.uint8).reshape(-1, 4).T):
            raw[at + byte] = part
    raw.tofile(dst)
    return {"packets": len(ts), "seconds": (int(dense[-1]) - first) / US, "was": span / US}
