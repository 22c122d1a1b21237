"""The scan of the compiled decoders of TCP protocols framed by a length header whose flows move to
Python when the kernel meets what it does not take: one loop over a chunk's packets for IEC 104
(``sensor.decode.fast.iec104``) and DNP3 (``sensor.decode.fast.dnp3``), each kernel giving three
functions, chosen by the protocol number:

- ``size(b, pos, left)``: the length of the frame at ``pos`` (``left`` bytes to the segment's end),
  INCOMPLETE when it ends past the segment (or its header does), BAD when the header is not the
  protocol's (Python's ``Stream`` then drops the segment and counts one malformed PDU);
- ``takes(b, o, n, ev)``: whether the kernel decodes the whole frame b[o:o+n] exactly as Python would
  (TAKEN), does not (NOT_TAKEN), or Python puts it together with others first (PIECES);
- ``decode(b, o, n, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt)``: decode it; False
  when the Python decoder would have raised (counted malformed, the responder then serves nothing).

A segment is read only when all its frames are whole and taken; otherwise the scan returns MOVE and
the flow goes on in Python from that segment on (``sensor.meter.fast_path``), or PIECE: the
protocol's path reads the segment (``frame_done`` after each frame, as here). (The functions are
not numba arguments: a cached kernel specialised on dispatchers fails to save its cache index.)
"""

from __future__ import annotations

from sensor.decode.fast import dnp3, iec104, tcp
from sensor.decode.fast.modbus import room
from sensor.decode.fast.moving import (BAD, C_ERRORS, DONE, F_MOVED, F_PENDING, F_SEQ, F_SERVED, F_SERVED_AT, GROW,
                                       F_SERVICES, INCOMPLETE, MOVE, NOT_TAKEN, PIECE, PIECES, SERVICE)
from sensor.jit import njit

IEC104, DNP3 = 0, 1
KERNELS = (iec104, dnp3)  # by protocol number


@njit(cache=True, _nrt=False)
def _size(proto, b, pos, left):
    return iec104.size(b, pos, left) if proto == IEC104 else dnp3.size(b, pos, left)


@njit(cache=True, _nrt=False)
def _takes(proto, b, o, n, ev):
    return iec104.takes(b, o, n, ev) if proto == IEC104 else dnp3.takes(b, o, n, ev)


@njit(cache=True, _nrt=False)
def _decode(proto, b, o, n, fid, is_orig, ts, flows, keys, vals, ev, cnt):
    if proto == IEC104:
        return iec104.decode(b, o, n, fid, is_orig, ts, flows, F_PENDING, keys, vals, ev, cnt)
    return dnp3.decode(b, o, n, fid, is_orig, ts, flows, F_PENDING, keys, vals, ev, cnt)


@njit(cache=True, _nrt=False)
def _frames(proto, b, lo, ln, ev):
    """(frames, DONE) when the segment b[lo:lo+ln] is whole frames the kernel takes, (frames, PIECE)
    when some are for Python to put together, (0, BAD) when Python's Stream would drop it, else
    (0, MOVE)."""
    pos, frames, verdict = lo, 0, DONE
    while pos < lo + ln:
        n = _size(proto, b, pos, lo + ln - pos)
        if n == BAD:
            return 0, BAD
        if n == INCOMPLETE:
            return 0, MOVE
        taken = _takes(proto, b, pos, n, ev)
        if taken == NOT_TAKEN:
            return 0, MOVE
        if taken == PIECES:
            verdict = PIECE
        pos += n
        frames += 1
    return frames, verdict


@njit(cache=True, _nrt=False)
def scan(proto, b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt):
    """Packets start… of the protocol's flows (fid per packet; a fid from the kernel's MAX_FID on is
    not taken) → events; returns (DONE, len) or (MOVE | GROW, index of the packet Python must take
    over at, or make room for, first). Packets of flows already moved to Python are skipped."""
    max_fid = iec104.MAX_FID if proto == IEC104 else dnp3.MAX_FID
    for i in range(start, len(fid)):
        f, d, lo, ln = fid[i], 0 if is_orig[i] else 1, off[i], length[i]
        if flows[f, F_MOVED]:
            continue
        kind = tcp.segment(flows[f, F_SEQ + d], seq[i], lo, ln, end[i])
        if kind == tcp.SKIP:
            continue
        if kind == tcp.ASIDE or f >= max_fid:
            return MOVE, i
        frames, verdict = _frames(proto, b, lo, ln, ev)
        if verdict == MOVE or verdict == PIECE:
            return verdict, i
        if not room(frames, keys, ev, jobs, cnt):
            return GROW, i
        flows[f, F_SEQ + d] = (seq[i] + ln) & tcp.SEQ_MASK
        if verdict == BAD:
            cnt[C_ERRORS] += 1
            continue
        pos = lo
        while pos < lo + ln:
            n = _size(proto, b, pos, lo + ln - pos)
            frame_done(_decode(proto, b, pos, n, f, is_orig[i], ts[i], flows, keys, vals, ev, cnt), flows, f,
                       is_orig[i], ts[i], cnt)
            pos += n
    return DONE, len(fid)


@njit(cache=True, _nrt=False)
def frame_done(decoded, flows, f, is_orig, ts, cnt):
    """After a frame: the service confirmed; a responder's frame the decoder read (``decoded``) serves
    it, one it failed on is counted malformed."""
    flows[f, F_SERVICES] |= SERVICE
    if not decoded:
        cnt[C_ERRORS] += 1
    elif not is_orig and not flows[f, F_SERVED]:
        flows[f, F_SERVED], flows[f, F_SERVED_AT] = SERVICE, ts
