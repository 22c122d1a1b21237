"""pcap / pcapng file replay: a capture file → chunks of frame records (no per-packet Python).

The file is memory-mapped; a numba loop walks the record headers and fills column arrays
(timestamp µs, frame offset into the buffer, captured and wire length, link type), asking for the
file's next bytes ahead of the record it reads (``READ_AHEAD``: a record's offset is known only once
the one before it is read, so else each record waits for memory). pcapng section headers and
interface descriptions are rare, so the loop hands them back to Python.
A truncated or garbled record is counted in ``Frames.errors`` and ends the file: there is no
reliable way to resynchronise on a damaged record stream.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from sensor.capture.prefetch import LINE, prefetch
from sensor.jit import njit

# records per chunk: a chunk's columns and its mapped pages (all read when its record headers are scanned)
# are held until the chunk is done, across any interval end within it (a live sensor's ring files are read
# so too; the TPACKET_V3 ring and the Scapy socket end a chunk at it as well). The 1M plant's peak: 236 MB
# at 262,144 frames, 141 at 65,536, 127 at 32,768, 113 at 8,192; its CPU the same from 32,768 up, +9 % at
# 8,192 (more slices, each paying every stage's calls)
CHUNK = 1 << 15
MAX_CAPLEN = 1 << 18  # larger than any real snaplen: a garbled record header
MAX_TS = (1 << 32) * 1_000_000  # µs: classic pcap's 32-bit seconds end in 2106; later pcapng times are lies
READ_AHEAD = 512  # bytes past the record being read already asked for (1M-packet plant: 0.15 → 0.075 s of CPU)

PCAP_MAGIC = {  # magic as read little-endian → (big-endian file, nanosecond timestamps)
    0xA1B2C3D4: (False, False),
    0xA1B23C4D: (False, True),
    0xD4C3B2A1: (True, False),
    0x4D3CB2A1: (True, True),
}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D

# numba loop exit reasons
_FULL, _END, _CONTROL, _DAMAGED = 0, 1, 2, 3


class CaptureError(ValueError):
    """The file is not a pcap or pcapng capture."""


@dataclass
class Frames:
    """One chunk of frames; ``buf`` is the whole file, frames are slices of it."""

    buf: np.ndarray  # uint8
    ts: np.ndarray  # int64 µs since the epoch
    offset: np.ndarray  # int64 into buf
    caplen: np.ndarray  # int32
    wirelen: np.ndarray  # int32
    linktype: np.ndarray  # int32
    errors: int = 0  # damaged records (this chunk)
    kernel_drops: int = 0  # live capture: packets the kernel dropped since the previous chunk
    clock: int | None = None  # live capture: µs by which every packet was in this or an earlier chunk

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls, **kw) -> Frames:
        """A chunk without frames (carrying only damage, drop or clock news)."""
        return cls(np.zeros(0, np.uint8), *_new_cols(0), np.empty(0, np.int32), **kw)


@njit(cache=True, _nrt=False)  # no reference counting of ``buf`` per call: see decode.packet
def _u32(buf, off, big):
    """The unsigned 32-bit field at ``off`` in the file's byte order, as int64."""
    b0, b1, b2, b3 = np.int64(buf[off]), np.int64(buf[off + 1]), np.int64(buf[off + 2]), np.int64(buf[off + 3])
    if big:
        return (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
    return (b3 << 24) | (b2 << 16) | (b1 << 8) | b0


@njit(cache=True, _nrt=False)
def _ask_ahead(buf, asked, upto):
    """Prefetch the lines from ``asked`` to ``upto`` (at most the end); return how far is asked for."""
    upto = min(upto, len(buf))
    while asked < upto:
        prefetch(buf, asked)
        asked += LINE
    return asked


@njit(cache=True)
def _scan_pcap(buf, off, big, nano, max_n, ts, offs, caplen, wirelen):
    """Fill up to max_n records from ``off``; return (count, next offset, exit reason)."""
    end = len(buf)
    n = 0
    asked = off
    while n < max_n:
        asked = _ask_ahead(buf, max(asked, off), off + READ_AHEAD)
        if off >= end:
            return n, off, _END
        if off + 16 > end:
            return n, off, _DAMAGED
        cap = _u32(buf, off + 8, big)
        if cap > MAX_CAPLEN or off + 16 + cap > end:
            return n, off, _DAMAGED
        frac = _u32(buf, off + 4, big)
        ts[n] = _u32(buf, off, big) * 1_000_000 + (frac // 1000 if nano else frac)
        offs[n] = off + 16
        caplen[n] = cap
        wirelen[n] = _u32(buf, off + 12, big)
        n += 1
        off += 16 + cap
    return n, off, _FULL


@njit(cache=True)
def _scan_pcapng(buf, off, big, n_if, max_n, ts, offs, caplen, wirelen, iface):
    """Walk packet blocks (EPB, SPB, obsolete PB) until a section/interface block, the end,
    damage, or max_n packets. ``ts`` receives raw interface ticks; ``iface`` is the index
    within the section, ``ts`` -1 for simple packet blocks (they carry no timestamp).
    Returns (count, next offset, exit reason, skipped bad packet blocks)."""
    end = len(buf)
    n = 0
    bad = 0
    asked = off
    while n < max_n:
        asked = _ask_ahead(buf, max(asked, off), off + READ_AHEAD)
        if off >= end:
            return n, off, _END, bad
        if off + 12 > end:
            return n, off, _DAMAGED, bad
        btype = _u32(buf, off, big)
        blen = _u32(buf, off + 4, big)
        if btype == PCAPNG_SHB or btype == 1:
            return n, off, _CONTROL, bad
        if blen < 12 or blen % 4 != 0 or off + blen > end:
            return n, off, _DAMAGED, bad
        if btype == 6 or btype == 2:  # enhanced / obsolete packet block
            if blen < 32:
                bad += 1
            else:
                if btype == 6:
                    ifc = _u32(buf, off + 8, big)
                else:
                    ifc = _u32(buf, off + 8, big) >> 16 if big else _u32(buf, off + 8, big) & 0xFFFF
                cap = _u32(buf, off + 20, big)
                if ifc >= n_if or 28 + cap > blen - 4:
                    bad += 1
                else:
                    ts[n] = (_u32(buf, off + 12, big) << 32) | _u32(buf, off + 16, big)
                    offs[n] = off + 28
                    caplen[n] = cap
                    wirelen[n] = _u32(buf, off + 24, big)
                    iface[n] = ifc
                    n += 1
        elif btype == 3:  # simple packet block: interface 0, no timestamp
            if blen < 16 or n_if == 0:
                bad += 1
            else:
                orig = _u32(buf, off + 8, big)
                ts[n] = -1
                offs[n] = off + 12
                caplen[n] = min(orig, blen - 16)
                wirelen[n] = orig
                iface[n] = 0
                n += 1
        off += blen
    return n, off, _FULL, bad


def _new_cols(n: int):
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n, np.int32))


def _map(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return np.zeros(0, np.uint8)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mm, dtype=np.uint8)


def iter_frames(path: str | Path, chunk: int = CHUNK) -> Iterator[Frames]:
    """Yield the frames of a pcap or pcapng file in file order, ``chunk`` at a time."""
    buf = _map(Path(path))
    if len(buf) < 4:
        raise CaptureError(f"{path}: too short for a capture file")
    magic = int.from_bytes(buf[:4].tobytes(), "little")
    if magic == PCAPNG_SHB:
        chunks = _iter_pcapng(buf, chunk, path)
    elif magic in PCAP_MAGIC:
        chunks = _iter_pcap(buf, chunk, path)
    else:
        raise CaptureError(f"{path}: not a pcap or pcapng file (magic {magic:#010x})")
    mapped = getattr(buf.base, "obj", None)  # the mmap under the array (none for an empty file)
    released = 0
    for frames in chunks:
        yield frames
        # back for more: the pages before this chunk's last frame were read, so the mapped file
        # need not stay resident (a frame read again is paged in from the file)
        if isinstance(mapped, mmap.mmap) and len(frames):
            upto = int(frames.offset[-1]) // mmap.PAGESIZE * mmap.PAGESIZE
            if upto > released:
                mapped.madvise(mmap.MADV_DONTNEED, released, upto - released)
                released = upto


def _iter_pcap(buf: np.ndarray, chunk: int, path) -> Iterator[Frames]:
    big, nano = PCAP_MAGIC[int.from_bytes(buf[:4].tobytes(), "little")]
    if len(buf) < 24:
        raise CaptureError(f"{path}: truncated pcap file header")
    linktype = int(_u32(buf, 20, big)) & 0x0FFFFFFF  # upper bits may carry FCS info
    off = 24
    while True:
        ts, offs, cap, wire = _new_cols(chunk)
        n, off, why = _scan_pcap(buf, off, big, nano, chunk, ts, offs, cap, wire)
        lt = np.full(n, linktype, np.int32)
        damaged = int(why == _DAMAGED)
        if n or damaged:
            yield Frames(buf, ts[:n], offs[:n], cap[:n], wire[:n], lt, damaged)
        if why != _FULL:
            return


@dataclass
class _Interface:
    linktype: int
    tsresol: int = 6  # pcapng if_tsresol byte: 10^-v, or 2^-(v & 0x7f) with the top bit set
    tsoffset: int = 0  # seconds


def _options(buf: np.ndarray, start: int, stop: int, big: bool) -> Iterator[tuple[int, bytes]]:
    order = "big" if big else "little"
    while start + 4 <= stop:
        code = int.from_bytes(buf[start : start + 2].tobytes(), order)
        length = int.from_bytes(buf[start + 2 : start + 4].tobytes(), order)
        if code == 0 or start + 4 + length > stop:
            return
        yield code, buf[start + 4 : start + 4 + length].tobytes()
        start += 4 + length + (-length % 4)


def _parse_idb(buf: np.ndarray, off: int, blen: int, big: bool) -> _Interface:
    order = "big" if big else "little"
    iface = _Interface(int.from_bytes(buf[off + 8 : off + 10].tobytes(), order))
    for code, value in _options(buf, off + 16, off + blen - 4, big):
        if code == 9 and len(value) >= 1:
            iface.tsresol = value[0]
        elif code == 14 and len(value) >= 8:
            iface.tsoffset = max(-(1 << 32), min(int.from_bytes(value[:8], order, signed=True), 1 << 32))
    return iface


def _to_us(raw: np.ndarray, ifc: _Interface) -> np.ndarray:
    """Interface ticks → µs since the epoch, within [0, MAX_TS] whatever the interface says."""
    v = ifc.tsresol
    if 6 <= v <= 24:
        us = raw // (10 ** (v - 6))  # exact
    else:  # (float64 holds µs exactly until 2255)
        per_us = 2.0 ** (v & 0x7F) / 1e6 if v & 0x80 else 10.0 ** (v - 6)
        us = np.clip(raw.astype(np.float64) / per_us, 0, MAX_TS).astype(np.int64)
    return np.clip(us + ifc.tsoffset * 1_000_000, 0, MAX_TS)


def _control_block(buf: np.ndarray, off: int, big: bool, section: list[_Interface]):
    """Apply a section header or interface description at ``off``; return (next offset,
    byte order) or None if the block is damaged."""
    btype = int(_u32(buf, off, big))
    if btype == PCAPNG_SHB:
        if off + 28 > len(buf):
            return None
        big = int.from_bytes(buf[off + 8 : off + 12].tobytes(), "little") != PCAPNG_BOM
        section.clear()  # interface ids restart in every section
    blen = int(_u32(buf, off + 4, big))
    if blen < 12 or blen % 4 or off + blen > len(buf):
        return None
    if btype == 1:
        section.append(_parse_idb(buf, off, blen, big) if blen >= 20 else _Interface(-1))
    return off + blen, big


def _iter_pcapng(buf: np.ndarray, chunk: int, path) -> Iterator[Frames]:
    off, big, section, pending, last_us = 0, False, [], 0, 0
    while True:
        ts, offs, cap, wire = _new_cols(chunk)
        ifc = np.empty(chunk, np.int64)
        n, off, why, bad = _scan_pcapng(buf, off, big, len(section), chunk, ts, offs, cap, wire, ifc)
        pending += bad + int(why == _DAMAGED)
        if n:
            ifc = ifc[:n]
            us = np.empty(n, np.int64)
            lt = np.empty(n, np.int32)
            for i in np.unique(ifc):
                sel = ifc == i
                us[sel] = _to_us(ts[:n][sel], section[i])
                lt[sel] = section[i].linktype
            # simple packet blocks take the timestamp of the packet before them
            stamped = np.where(ts[:n] >= 0, np.arange(n), -1)
            prev = np.maximum.accumulate(stamped)
            us = np.where(prev >= 0, us[np.maximum(prev, 0)], last_us)
            last_us = int(us[-1])
            yield Frames(buf, us, offs[:n], cap[:n], wire[:n], lt, pending)
            pending = 0
        if why == _CONTROL:
            nxt = _control_block(buf, off, big, section)
            if nxt is not None:
                off, big = nxt
                continue
            why, pending = _DAMAGED, pending + 1
        if why != _FULL:
            if pending:
                yield Frames.empty(errors=pending)
            return
