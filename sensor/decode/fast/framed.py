"""The scan of the compiled decoders of TCP protocols framed by a length header whose flows move to
Python when the kernel meets what it does not take (IEC 104, DNP3): one loop over a chunk's packets
given the protocol's three functions (numba dispatchers, specialised at compile time):

- ``size(b, pos, left)``: the length of the frame at ``pos`` (``left`` bytes to the segment's end),
  INCOMPLETE when it ends past the segment (or its header does), BAD when the header is not the
  protocol's (Python's ``Stream`` then drops the segment and counts one malformed PDU);
- ``takes(b, o, n, ev)``: whether the kernel decodes the whole frame b[o:o+n] exactly as Python would;
- ``decode(b, o, n, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt)``: decode it; False
  when the Python decoder would have raised (counted malformed, the responder then serves nothing).

A segment is read only when all its frames are whole and taken; otherwise the scan returns MOVE and
the flow goes on in Python from that segment on (``sensor.meter.fast_path``).
"""

from __future__ import annotations

from numba import njit

from sensor.decode.fast import tcp
from sensor.decode.fast.modbus import C_DROPPED, C_ERRORS, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING, COUNTERS  # noqa: F401
from sensor.decode.fast.modbus import room

# per-flow state: next sequence number per direction (-1: none yet), services (bit 1: the one
# service), whether the responder served it this interval and when, requests pending, the
# flow-table slot, whether the flow went on in Python; (not read here) the services told
F_SEQ, F_SERVICES, F_SERVED, F_SERVED_AT, F_PENDING, F_SLOT, F_MOVED, F_TOLD = 0, 2, 3, 4, 5, 6, 7, 8
FLOW_COLS = 9
INITIAL = (-1, -1, 0, 0, 0, 0, 0, 0, 0)  # a new flow's state (its slot set apart)
SERVICE = 1
JOB_COLS = 1  # (no jobs for Python)
DONE, MOVE, GROW = 0, 1, 2
INCOMPLETE, BAD = -1, -2


@njit(cache=True, _nrt=False)
def _frames(size, takes, b, lo, ln, ev):
    """(frames, DONE) when the segment b[lo:lo+ln] is whole frames the kernel takes, (0, BAD) when
    Python's Stream would drop it, else (0, MOVE)."""
    pos, frames = lo, 0
    while pos < lo + ln:
        n = size(b, pos, lo + ln - pos)
        if n == BAD:
            return 0, BAD
        if n == INCOMPLETE:
            return 0, MOVE
        if not takes(b, pos, n, ev):
            return 0, MOVE
        pos += n
        frames += 1
    return frames, DONE


@njit(cache=True, _nrt=False)
def scan(size, takes, decode, max_fid, b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev,
         jobs, cnt):
    """Packets start… of the protocol's flows (fid per packet; a fid from ``max_fid`` on is not
    taken) → events; returns (DONE, len) or (MOVE | GROW, index of the packet Python must take
    over at, or make room for, first). Packets of flows already moved to Python are skipped."""
    for i in range(start, len(fid)):
        f, d, lo, ln = fid[i], 0 if is_orig[i] else 1, off[i], length[i]
        if flows[f, F_MOVED]:
            continue
        kind = tcp.segment(flows[f, F_SEQ + d], seq[i], lo, ln, end[i])
        if kind == tcp.SKIP:
            continue
        if kind == tcp.ASIDE or f >= max_fid:
            return MOVE, i
        frames, verdict = _frames(size, takes, b, lo, ln, ev)
        if verdict == MOVE:
            return MOVE, i
        if not room(frames, keys, ev, jobs, cnt):
            return GROW, i
        flows[f, F_SEQ + d] = (seq[i] + ln) & tcp.SEQ_MASK
        if verdict == BAD:
            cnt[C_ERRORS] += 1
            continue
        pos = lo
        while pos < lo + ln:
            n = size(b, pos, lo + ln - pos)
            flows[f, F_SERVICES] |= SERVICE
            if decode(b, pos, n, f, is_orig[i], ts[i], flows, F_PENDING, keys, vals, ev, cnt):
                if not is_orig[i] and not flows[f, F_SERVED]:
                    flows[f, F_SERVED], flows[f, F_SERVED_AT] = SERVICE, ts[i]
            else:
                cnt[C_ERRORS] += 1
            pos += n
    return DONE, len(fid)
