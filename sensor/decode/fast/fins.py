"""Omron FINS over UDP in numba: the datagrams of a chunk's FINS flows → one row of event columns per
command (or unanswered response, or FINS/TCP header command), answers paired with their command as
``sensor.decode.fins.decode`` pairs them (by service id, command code and the commanded node).

A datagram is one PDU: every FINS header is fixed binary fields, so the kernel takes every datagram
(those that open with FINS/TCP's "FINS" header too). A Controller Data Read answer's model and version
become a job: Python reads them with the decoder's own parser. A flow moves to Python
(``sensor.meter.fast_path``) only when more FINS flows are held at once than its pending keys reach.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast.framed import frame_done
from sensor.decode.fast.modbus import DROPPED, _be16, answer, ask, new_row, room
from sensor.decode.fast.moving import (C_DROPPED, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING,  # noqa: F401
                                       COUNTERS, DONE, F_MOVED, F_PENDING, F_SEQ, F_SERVED, F_SERVED_AT, F_SERVICES,
                                       F_SLOT, F_TOLD, FLOW_COLS, GROW, INITIAL, MOVE, SERVICE)  # (read by Python)
from sensor.jit import njit

# event columns: kind (command, response alone, FINS/TCP header command), command code (the FINS/TCP
# command for the last), status (-1: none; the end code without its flags; FINS/TCP: the error code),
# service id, destination and source node (network << 16 | node << 8 | unit; -1: none), memory area
# (-1: none), round-trip time (-1: unanswered; E_TS and E_RTT where modbus.answer sets them)
E_FID, E_TS, E_KIND, E_CODE, E_STATUS, E_SID, E_DEST, E_SRC, E_AREA, E_RTT = 0, 1, 2, 3, 4, 5, 6, 7, 8, 11
EVENT_COLS = 12  # (9 and 10 unused)
KEY_COLS = (E_FID, E_KIND, E_CODE, E_STATUS, E_DEST, E_SRC, E_AREA)
KIND_COMMAND, KIND_RESPONSE, KIND_TCP = 0, 1, 2
STATUS_NONE = -1
# Controller Data Read answers: flow, time, offset and length of the body in the buffer, sent by the originator
J_FID, J_TS, J_OFF, J_LEN, J_ORIG = range(5)
JOB_COLS = 5
# pending keys: fid << 48 | service id << 40 | command code << 24 | the commanded node
FID_SHIFT = 48
MAX_FID = 1 << (63 - FID_SHIFT)
HEADER, TCP_HEADER, FRAME_SEND, ICF_RESPONSE, END_FLAGS = 12, 16, 2, 0x40, 0x7F3F
CONTROLLER_DATA_READ, CONTROLLER_DATA = 0x0501, 42  # an answer's body bytes with model and version


@njit(cache=True, _nrt=False)
def _be32(b, o):
    return (_be16(b, o) << 16) | _be16(b, o + 2)


@njit(cache=True, _nrt=False)
def _node(b, o):
    return (np.int64(b[o]) << 16) | (np.int64(b[o + 1]) << 8) | np.int64(b[o + 2])


@njit(cache=True, _nrt=False)
def _memory(code):
    return code == 0x0101 or code == 0x0102 or code == 0x0103  # fins.MEMORY_COMMANDS


@njit(cache=True, _nrt=False)
def row(ev, cnt, fid, ts, kind, code, a, b_):
    """A new event row of the datagram kernels (this one's and ``bacnet``'s: flow, time, kind, code, then
    two more columns: here status and service id), the other columns -1; -1 once the interval has its cap."""
    k = new_row(cnt)
    if k >= 0:
        ev[k, :] = -1
        ev[k, 0], ev[k, 1], ev[k, 2], ev[k, 3], ev[k, 4], ev[k, 5] = fid, ts, kind, code, a, b_
    return k


@njit(cache=True, _nrt=False)
def decode(b, o, n, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt):
    """One datagram b[o:o+n], as fins.decode; False where it would raise (malformed)."""
    if n >= 4 and b[o] == 0x46 and b[o + 1] == 0x49 and b[o + 2] == 0x4E and b[o + 3] == 0x53:  # b"FINS"
        if n < TCP_HEADER:
            return False
        command = _be32(b, o + 8)
        if command != FRAME_SEND:  # node address exchange, or an error notification
            row(ev, cnt, fid, ts, KIND_TCP, command, _be32(b, o + 12), -1)
            return True
        o, n = o + TCP_HEADER, n - TCP_HEADER
    if n < HEADER:
        return False
    sid, code, body, size = np.int64(b[o + 9]), _be16(b, o + 10), o + HEADER, n - HEADER
    if not b[o] & ICF_RESPONSE:
        dest = _node(b, o + 3)
        k = row(ev, cnt, fid, ts, KIND_COMMAND, code, STATUS_NONE, sid)
        if k >= 0:
            ev[k, E_DEST], ev[k, E_SRC] = dest, _node(b, o + 6)
            if _memory(code) and size > 0:
                ev[k, E_AREA] = b[body]
        key = (fid << FID_SHIFT) | (sid << 40) | (code << 24) | dest
        ask(flows, F_PENDING, keys, vals, cnt, fid, key, k if k >= 0 else DROPPED)
        return True
    if size < 2:
        return False
    end = _be16(b, body) & END_FLAGS  # without the relay error and fatal/non-fatal flags
    key = (fid << FID_SHIFT) | (sid << 40) | (code << 24) | _node(b, o + 6)
    paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, key, ts)
    if k >= 0:
        ev[k, E_STATUS] = end
    elif not paired:  # the command was not seen this interval (a dropped one was: no event)
        row(ev, cnt, fid, ts, KIND_RESPONSE, code, end, sid)
    if code == CONTROLLER_DATA_READ and end == 0 and size >= CONTROLLER_DATA:
        j = cnt[C_JOBS]
        cnt[C_JOBS] = j + 1
        jobs[j, J_FID], jobs[j, J_TS], jobs[j, J_OFF], jobs[j, J_LEN], jobs[j, J_ORIG] = fid, ts, body, size, is_orig
    return True


@njit(cache=True, _nrt=False)
def scan(b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt, max_fid):
    """Datagrams start… of FINS flows (fid per packet; a fid from ``max_fid`` on is not taken) →
    events; returns (DONE, len) or (MOVE | GROW, index of the packet Python must take over at, or
    make room for, first). Packets of flows already moved to Python are skipped."""
    for i in range(start, len(fid)):
        f = fid[i]
        if flows[f, F_MOVED]:
            continue
        if f >= max_fid:
            return MOVE, i
        if not room(1, keys, ev, jobs, cnt):
            return GROW, i
        lo = off[i]
        n = max(min(lo + length[i], end[i]) - lo, 0)  # the bytes captured
        frame_done(decode(b, lo, n, f, is_orig[i], ts[i], flows, keys, vals, ev, jobs, cnt), flows, f, is_orig[i],
                   ts[i], cnt)
    return DONE, len(fid)
