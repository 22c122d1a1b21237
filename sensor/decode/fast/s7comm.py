"""S7comm over ISO-on-TCP in numba: the packets of a chunk's S7comm flows → one row of event
columns per job, user-data request or unanswered answer, paired as ``sensor.decode.s7comm.decode``
pairs them (``Session.ask``/``answer`` by ("job", PDU reference) and ("userdata", group, sub)).

The kernel takes a flow's in-sequence segments of whole TPKT frames whose every PDU it fully
understands: COTP connection PDUs, and S7comm (magic 0x32) in single COTP data units — jobs
(Read/Write Variable with up to MAX_AREAS distinct areas, Setup Communication, functions without
attributes), their Ack/ACK-Data, and user data. It checks a whole segment before it decodes any of
it; at the first segment it does not take (a frame split or overlapped, a COTP fragment,
S7comm-plus, MMS, a block or PI-service job, anything malformed) it returns MOVE and the flow goes
on in Python from that segment on. Read SZL answers become jobs: the Python decoder's parsers
read their identity records.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast import tcp
from sensor.decode.fast.modbus import (C_DROPPED, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING, COUNTERS,  # noqa: F401
                                       _be16, answer, ask, new_row, room)  # (counters: the Python side reads them here)
from sensor.jit import njit

# event columns: the ROSCTR and name code say which of A1..A5 mean what (see ``sensor.meter.fast_s7comm``)
E_FID, E_TS, E_ROSCTR, E_NAME, E_STATUS, E_REF, E_A1, E_A2, E_A3, E_A4, E_A5, E_RTT = range(12)
EVENT_COLS = 12
KEY_COLS = (E_FID, E_ROSCTR, E_NAME, E_STATUS, E_A1, E_A2, E_A3, E_A4, E_A5)  # fold.py's _key
STATUS_NONE = -1  # otherwise the error code (0: OK)
JOB, ACK, ACK_DATA, USERDATA = 1, 2, 3, 7
MAX_AREAS = 4  # distinct areas of a Read/Write Variable job the row holds (A2..A5)
# per-flow state: next sequence number per direction (-1: none yet), services (bits), services the
# responder was seen serving this interval (bits) and when, requests pending, the flow-table slot,
# whether the flow went on in Python; (not read here) the services the flow table was told of
F_SEQ, F_SERVICES, F_SERVED, F_SERVED_AT, F_PENDING, F_SLOT, F_MOVED, F_TOLD = 0, 2, 3, 4, 6, 7, 8, 9
FLOW_COLS = 10
SVC_COTP, SVC_S7 = 1, 2
# Read SZL answer jobs: flow, time, offset and length of the S7 data, "more data units follow",
# whether the request named the SZL, sender is the originator
J_FID, J_TS, J_OFF, J_LEN, J_MORE, J_FIRST, J_ORIG = range(7)
JOB_COLS = 7
# counters laid out as the Modbus kernel's (its ``room`` reads them; C_ERRORS is not used here)
DONE, MOVE, GROW = 0, 1, 2
# pending-table keys: fid << 20 | kind << 16 | PDU reference, or group << 8 | sub-function
K_JOB, K_USERDATA = 0, 1
# pending values of requests whose event was dropped over the cap (else the event row)
DROPPED, DROPPED_SZL = -1, -2

COTP_DT, S7 = 0xF0, 0x32
SZL_GROUP, SZL_SUB = 0x4, 0x01


@njit(cache=True, _nrt=False)
def _areas(b, p, plen, out):
    """Read/Write Variable parameter at b[p:p+plen]: the item count, the distinct area tokens
    (area << 16 | DB number) into ``out`` (-1 after them), as s7comm._items; -1 when the parameter
    is cut short or names more than MAX_AREAS areas."""
    out[:] = -1
    count, pos, n = np.int64(b[p + 1]), 2, 0
    for _ in range(count):
        if pos + 2 >= plen:
            return -1
        spec, length, syntax = b[p + pos], np.int64(b[p + pos + 1]), b[p + pos + 2]
        if spec == 0x12 and syntax == 0x10 and length >= 10:
            if pos + 8 >= plen:
                return -1
            area = np.int64(b[p + pos + 8])
            token = (area << 16) | (_be16(b, p + pos + 6) if area == 0x84 else 0)
            seen = False
            for j in range(n):
                seen = seen or out[j] == token
            if not seen:
                if n == MAX_AREAS:
                    return -1
                out[n] = token
                n += 1
        pos += 2 + length
    return count


@njit(cache=True, _nrt=False)
def _s7_ok(b, o, n, areas):
    """Whether the S7comm PDU b[o:o+n] is one the kernel decodes exactly as the Python decoder."""
    if n < 10:
        return False
    rosctr, plen, dlen = b[o + 1], _be16(b, o + 6), _be16(b, o + 8)
    head = 12 if rosctr == ACK or rosctr == ACK_DATA else 10
    if rosctr != JOB and head == 10 and rosctr != USERDATA or n < head + plen + dlen:
        return False
    p = o + head
    if rosctr == JOB:
        if plen < 1:
            return False
        function = b[p]
        if function == 0x04 or function == 0x05:
            return plen >= 2 and _areas(b, p, plen, areas) >= 0
        if function == 0xF0:
            return plen >= 8
        return function != 0x1A and function != 0x1D and function != 0x28 and function != 0x29
    if rosctr == USERDATA:
        return plen >= 7 and (b[p + 3] < 8 or plen >= 12)
    return True


@njit(cache=True, _nrt=False)
def _frame_ok(b, o, n, areas):
    """A whole TPKT frame the kernel takes: a COTP connection PDU, or one COTP data unit (EOT)
    holding an S7comm PDU it decodes."""
    length = np.int64(b[o + 4])
    if length < 2 or 5 + length > n:
        return False
    if b[o + 5] & 0xF0 != COTP_DT:
        return True
    data = o + 5 + length
    return bool(b[o + 6] & 0x80) and data < o + n and b[data] == S7 and _s7_ok(b, data, o + n - data, areas)


@njit(cache=True, _nrt=False)
def _event(ev, cnt, fid, ts, rosctr, name, status, ref, a):
    """A new event row, or -1 (counted) once the interval has C_MAX_EVENTS."""
    k = new_row(cnt)
    if k < 0:
        return k
    ev[k, E_FID], ev[k, E_TS], ev[k, E_ROSCTR], ev[k, E_NAME], ev[k, E_STATUS] = fid, ts, rosctr, name, status
    ev[k, E_REF], ev[k, E_RTT] = ref, -1
    for j in range(5):
        ev[k, E_A1 + j] = a[j]
    return k


@njit(cache=True, _nrt=False)
def _decode_s7(b, o, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt, a):
    """One S7comm PDU that _s7_ok accepted, as s7comm._s7."""
    rosctr, ref, plen = np.int64(b[o + 1]), _be16(b, o + 4), _be16(b, o + 6)
    a[:] = -1
    if rosctr == JOB:
        p = o + 10
        function = np.int64(b[p])
        if function == 0x04 or function == 0x05:
            a[0] = _areas(b, p, plen, a[1:])
        elif function == 0xF0:
            a[0] = _be16(b, p + 6)
        k = _event(ev, cnt, fid, ts, JOB, function, STATUS_NONE, ref, a)
        ask(flows, F_PENDING, keys, vals, cnt, fid, (fid << 20) | (K_JOB << 16) | ref, k if k >= 0 else DROPPED)
        return
    if rosctr != USERDATA:  # Ack, ACK-Data
        error = _be16(b, o + 10)
        paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, (fid << 20) | (K_JOB << 16) | ref, ts)
        if not paired:
            k = _event(ev, cnt, fid, ts, rosctr, np.int64(b[o + 12]) if plen else 0, STATUS_NONE, ref, a)
        if k >= 0:
            ev[k, E_STATUS] = error
        return
    p = o + 10
    data, dlen = p + plen, _be16(b, o + 8)
    kind, group, sub = b[p + 5] >> 4, np.int64(b[p + 5] & 0x0F), np.int64(b[p + 6])
    name = (group << 8) | sub
    key = (fid << 20) | (K_USERDATA << 16) | name
    if kind == 4 or kind == 0:  # a request, or a push nothing answers
        szl = group == SZL_GROUP and sub == SZL_SUB and dlen >= 8
        if szl:
            a[0], a[1] = _be16(b, data + 4), _be16(b, data + 6)
        k = _event(ev, cnt, fid, ts, USERDATA, name, STATUS_NONE, ref, a)
        if kind == 4:
            ask(flows, F_PENDING, keys, vals, cnt, fid, key, k if k >= 0 else DROPPED_SZL if szl else DROPPED)
        return
    paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, key, ts)
    first = k == DROPPED_SZL or (k >= 0 and ev[k, E_A1] >= 0)  # the request named the SZL
    if not paired:
        k = _event(ev, cnt, fid, ts, USERDATA, name, STATUS_NONE, ref, a)
    long_head = b[p + 3] >= 8
    error = _be16(b, p + 10) if long_head else 0
    if k >= 0:
        ev[k, E_STATUS] = error
    if error == 0 and group == SZL_GROUP and sub == SZL_SUB and dlen >= 1 and b[data] == 0xFF:
        j = cnt[C_JOBS]
        cnt[C_JOBS] = j + 1
        jobs[j, J_FID], jobs[j, J_TS], jobs[j, J_OFF], jobs[j, J_LEN] = fid, ts, data, dlen
        jobs[j, J_MORE], jobs[j, J_FIRST], jobs[j, J_ORIG] = b[p + 9] if long_head else 0, first, is_orig


@njit(cache=True, _nrt=False)
def _decode_frame(b, o, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt, a):
    """One TPKT frame that _frame_ok accepted, as s7comm.decode; notes what the responder served."""
    length = np.int64(b[o + 4])
    flows[fid, F_SERVICES] |= SVC_COTP
    if b[o + 5] & 0xF0 == COTP_DT:
        flows[fid, F_SERVICES] |= SVC_S7
        _decode_s7(b, o + 5 + length, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt, a)
    if not is_orig:
        for bit in range(2):
            if flows[fid, F_SERVICES] & (1 << bit) and not flows[fid, F_SERVED] & (1 << bit):
                flows[fid, F_SERVED] |= 1 << bit
                flows[fid, F_SERVED_AT + bit] = ts


@njit(cache=True)
def scan(b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt):
    """Packets start… of S7comm flows (fid per packet) → events; returns (DONE, len) or
    (MOVE | GROW, index of the packet Python must take over at, or make room for, first).
    Packets of flows already moved to Python are skipped."""
    areas = np.empty(MAX_AREAS, np.int64)
    a = np.empty(5, np.int64)
    for i in range(start, len(fid)):
        f, d, lo, ln = fid[i], 0 if is_orig[i] else 1, off[i], length[i]
        if flows[f, F_MOVED]:
            continue
        s = seq[i]
        kind = tcp.segment(flows[f, F_SEQ + d], s, lo, ln, end[i])
        if kind == tcp.SKIP:
            continue
        if kind == tcp.ASIDE:
            return MOVE, i
        pos, frames = lo, 0
        while pos < lo + ln:
            if lo + ln - pos < 4 or b[pos] != 3 or b[pos + 1] != 0:
                return MOVE, i
            size = _be16(b, pos + 2)
            if size < 7 or pos + size > lo + ln or not _frame_ok(b, pos, size, areas):
                return MOVE, i
            pos += size
            frames += 1
        if not room(frames, keys, ev, jobs, cnt):
            return GROW, i
        flows[f, F_SEQ + d] = (s + ln) & tcp.SEQ_MASK
        pos = lo
        while pos < lo + ln:
            _decode_frame(b, pos, f, is_orig[i], ts[i], flows, keys, vals, ev, jobs, cnt, a)
            pos += _be16(b, pos + 2)
    return DONE, len(fid)
