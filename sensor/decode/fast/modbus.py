"""Modbus/TCP in numba: the packets of a chunk's Modbus flows → one row of event columns per request
(or unanswered response), paired by transaction id exactly as ``sensor.decode.modbus.decode`` pairs
them with ``Session.ask``/``answer``.

The kernel takes a TCP segment itself when the segment is in sequence (or a gap, or a pure
retransmission) and holds whole MBAP frames only: the common case. Anything else (a partial
overlap, a frame split across segments, a capture-truncated segment) is handed back to Python's
``Stream``, whose whole PDUs then come back through ``decode_pdus``. Answers that carry an identity
(Read Device Identification, UMAS Read ID) become jobs: the Python decoder's own parsers read them.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
Round-trip times are kept as whole µs, rounded exactly as ``f"{rtt:.6f}"`` rounds the float
seconds the Python decoder subtracts.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast import tcp
from sensor.jit import njit

# event columns
E_FID, E_TS, E_NAME, E_STATUS, E_UNIT, E_LAYOUT, E_V1, E_V2, E_V3, E_V4, E_TID, E_RTT = range(12)
EVENT_COLS = 12
STATUS_NONE, STATUS_OK = -1, 256  # otherwise the exception code
# request attributes by function code (E_LAYOUT); E_V1..E_V4 hold them in this order
L_NONE, L_ADDR_QTY, L_ADDR, L_RW, L_SUB, L_MEI, L_UMAS = range(7)
LAYOUT_ATTRS = ((), ("address", "quantity"), ("address",), ("address", "quantity", "write_address", "write_quantity"),
                ("subfunction",), ("mei_type",), ("umas_function",))
# per-flow state columns: next sequence number per direction (-1: none yet), whether Python's Stream
# holds an unfinished PDU for the direction, time of the interval's first good answer, requests pending,
# the flow-table slot (for the caller)
F_SEQ, F_DIRTY, F_SERVED, F_PENDING, F_SLOT = 0, 2, 4, 5, 6
FLOW_COLS = 7
# identity jobs: flow, time, offset and length of the PDU body in the buffer, kind
J_FID, J_TS, J_OFF, J_LEN, J_KIND = range(5)
JOB_COLS = 5
JOB_DEVICE_ID, JOB_UMAS_ID = 1, 2
# counters: events, pending requests, malformed PDUs, identity jobs, events dropped over the cap, the cap
C_EVENTS, C_PENDING, C_ERRORS, C_JOBS, C_DROPPED, C_MAX_EVENTS = range(6)
COUNTERS = 6
# scan results
DONE, FALLBACK, GROW = 0, 1, 2

MAX_PENDING = 256  # as spec.MAX_PENDING: unanswered requests kept per flow
MBAP_MIN, MAX_LENGTH = 2, 254  # modbus.frame's sane MBAP length field
UMAS_READ_ID, UMAS_OK, MEI_DEVICE_ID = 0x02, 0xFE, 0x0E
# pending-table values of requests whose event was dropped over the cap (else the event row)
DROPPED, DROPPED_UMAS_READ_ID = -1, -2


@njit(cache=True, _nrt=False)
def _be16(b, o):
    return (np.int64(b[o]) << 8) | np.int64(b[o + 1])


@njit(cache=True, _nrt=False)
def rtt_us(req_us, resp_us):
    """``f"{max(resp - req, 0.0):.6f}"`` as whole µs, where resp and req are the float seconds
    ``µs / 1_000_000``: the product by 10⁶ is kept exact (Dekker's two-product) so that it rounds
    half to even on the exact binary value, as Python's formatting does."""
    rtt = max(resp_us / 1e6 - req_us / 1e6, 0.0)
    hi = rtt * 1e6
    c = 134217729.0 * rtt  # Veltkamp split of rtt; 10⁶ needs no split (it has 20 significant bits)
    r_hi = c - (c - rtt)
    r_lo = rtt - r_hi
    lo = ((r_hi * 1e6 - hi) + r_lo * 1e6)
    n = np.floor(hi)
    frac = hi - n
    whole = np.int64(n)
    if frac > 0.5 or (frac == 0.5 and (lo > 0.0 or (lo == 0.0 and whole & 1))):
        return whole + 1
    return whole


@njit(cache=True, _nrt=False)
def _slot(keys, key):
    """Home slot of a pending-table key (fid << 16 | tid) in a power-of-two table."""
    x = key
    x ^= x >> 17
    x *= 0xED5AD4BB
    x ^= x >> 11
    x *= 0xAC4C1B51
    x ^= x >> 15
    return x & (len(keys) - 1)


@njit(cache=True, _nrt=False)
def _find(keys, key):
    i = _slot(keys, key)
    mask = len(keys) - 1
    while keys[i] != -1:
        if keys[i] == key:
            return i
        i = (i + 1) & mask
    return -1 - i  # not there: -1 - the free slot it would take


@njit(cache=True, _nrt=False)
def _remove(keys, vals, i):
    """Linear probing deletion by backward shift (no tombstones)."""
    mask = len(keys) - 1
    j = i
    while True:
        j = (j + 1) & mask
        if keys[j] == -1:
            break
        home = _slot(keys, keys[j])
        if (i <= j and i < home <= j) or (i > j and (home > i or home <= j)):
            continue
        keys[i] = keys[j]
        vals[i] = vals[j]
        i = j
    keys[i] = -1


@njit(cache=True, _nrt=False)
def _layout(code):
    """(layout, body bytes the request's fields need) by function code, as modbus._request_fields."""
    if code in (0x01, 0x02, 0x03, 0x04, 0x0F, 0x10):
        return L_ADDR_QTY, 4
    if code == 0x05 or code == 0x06:
        return L_ADDR_QTY, 2  # one coil or register: quantity 1
    if code == 0x16 or code == 0x18:
        return L_ADDR, 2
    if code == 0x17:
        return L_RW, 8
    if code == 0x08:
        return L_SUB, 2
    if code == 0x2B:
        return L_MEI, 1
    if code == 0x5A:
        return L_UMAS, 2
    return L_NONE, 0


@njit(cache=True, _nrt=False)
def _request(b, o, n, code):
    """(layout, v1, v2, v3, v4) of a request's fields, layout -1 when the body is too short
    (the Python decoder's struct.error / IndexError)."""
    body = o + 8
    layout, need = _layout(code)
    if n - 8 < need:
        return -1, 0, 0, 0, 0
    if layout == L_NONE:
        return L_NONE, 0, 0, 0, 0
    if layout == L_MEI or layout == L_UMAS:  # the MEI type; UMAS: the function after the session byte
        return layout, np.int64(b[body + need - 1]), 0, 0, 0
    if layout == L_ADDR_QTY:
        return layout, _be16(b, body), _be16(b, body + 2) if need == 4 else 1, 0, 0
    if layout == L_RW:
        return layout, _be16(b, body), _be16(b, body + 2), _be16(b, body + 4), _be16(b, body + 6)
    return layout, _be16(b, body), 0, 0, 0  # L_ADDR, L_SUB


@njit(cache=True, _nrt=False)
def ask(flows, pending, keys, vals, cnt, fid, key, value):
    """Session.ask: ``value`` (the request's event row, or a marker for one dropped over the cap)
    under ``key``; ``pending``: the flow column counting the flow's pending requests."""
    if flows[fid, pending] >= MAX_PENDING:
        return
    at = _find(keys, key)
    if at < 0:
        at = -1 - at
        keys[at] = key
        flows[fid, pending] += 1
        cnt[C_PENDING] += 1
    vals[at] = value


@njit(cache=True, _nrt=False)
def answer(flows, pending, keys, vals, cnt, ev, fid, key, ts):
    """Session.answer: (paired, the request's row or marker; -1 when not paired), the row's rtt set
    (event rows of every kernel keep E_TS and E_RTT where this module's do)."""
    at = _find(keys, key)
    if at < 0:
        return False, DROPPED
    k = vals[at]
    _remove(keys, vals, at)
    flows[fid, pending] -= 1
    cnt[C_PENDING] -= 1
    if k >= 0:
        ev[k, E_RTT] = rtt_us(ev[k, E_TS], ts)
    return True, k


@njit(cache=True, _nrt=False)
def new_row(cnt):
    """The index of a new event row, or -1 (counted) once the interval has C_MAX_EVENTS."""
    k = cnt[C_EVENTS]
    if k >= cnt[C_MAX_EVENTS]:
        cnt[C_DROPPED] += 1
        return -1
    cnt[C_EVENTS] = k + 1
    return k


@njit(cache=True, _nrt=False)
def _event(ev, cnt, fid, ts, name, status, unit, layout, v1, v2, v3, v4, tid):
    """A new event row, or -1 (counted) once the interval has C_MAX_EVENTS."""
    k = new_row(cnt)
    if k < 0:
        return k
    ev[k, E_FID], ev[k, E_TS], ev[k, E_NAME], ev[k, E_STATUS], ev[k, E_UNIT] = fid, ts, name, status, unit
    ev[k, E_LAYOUT], ev[k, E_V1], ev[k, E_V2], ev[k, E_V3], ev[k, E_V4] = layout, v1, v2, v3, v4
    ev[k, E_TID], ev[k, E_RTT] = tid, -1
    return k


@njit(cache=True, _nrt=False)
def _job(jobs, cnt, fid, ts, off, length, kind):
    j = cnt[C_JOBS]
    cnt[C_JOBS] = j + 1
    jobs[j, J_FID], jobs[j, J_TS], jobs[j, J_OFF], jobs[j, J_LEN], jobs[j, J_KIND] = fid, ts, off, length, kind


@njit(cache=True, _nrt=False)
def decode_pdu(b, o, n, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt):
    """One whole MBAP frame b[o:o+n] (n ≥ 8), as modbus.decode (the caller made room)."""
    tid, unit, code = _be16(b, o), np.int64(b[o + 6]), np.int64(b[o + 7])
    key = (fid << 16) | tid
    if is_orig:
        layout, v1, v2, v3, v4 = _request(b, o, n, code)
        if layout < 0:
            cnt[C_ERRORS] += 1
            return
        k = _event(ev, cnt, fid, ts, code, STATUS_NONE, unit, layout, v1, v2, v3, v4, tid)
        ask(flows, F_PENDING, keys, vals, cnt, fid, key,
            k if k >= 0 else DROPPED_UMAS_READ_ID if layout == L_UMAS and v1 == UMAS_READ_ID else DROPPED)
        return
    paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, key, ts)
    body, blen = o + 8, n - 8
    if code & 0x80:
        if blen < 1:
            cnt[C_ERRORS] += 1
            return
        status = np.int64(b[body])
    else:
        status = STATUS_OK
        if k >= 0:
            ev[k, E_STATUS] = status
        if code == 0x2B:
            if blen < 1:
                cnt[C_ERRORS] += 1
                return
            if b[body] == MEI_DEVICE_ID:
                _job(jobs, cnt, fid, ts, body, blen, JOB_DEVICE_ID)
        elif code == 0x5A and blen >= 2 and b[body + 1] == UMAS_OK and (k == DROPPED_UMAS_READ_ID or (
                k >= 0 and ev[k, E_LAYOUT] == L_UMAS and ev[k, E_V1] == UMAS_READ_ID)):
            _job(jobs, cnt, fid, ts, body, blen, JOB_UMAS_ID)
    if k >= 0:
        ev[k, E_STATUS] = status
    elif not paired:  # request not seen in this interval (a dropped one was seen: its answer adds no event)
        _event(ev, cnt, fid, ts, code & 0x7F, status, unit, L_NONE, 0, 0, 0, 0, tid)
    if flows[fid, F_SERVED] < 0:
        flows[fid, F_SERVED] = ts


@njit(cache=True, _nrt=False)
def room(pdus, keys, ev, jobs, cnt):
    """Whether the tables hold ``pdus`` more PDUs (past the cap events are only counted)."""
    return ((cnt[C_EVENTS] + pdus <= len(ev) or len(ev) >= cnt[C_MAX_EVENTS]) and cnt[C_JOBS] + pdus <= len(jobs)
            and 2 * (cnt[C_PENDING] + pdus) <= len(keys))


@njit(cache=True)
def scan(b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt):
    """Packets start… of Modbus flows (fid per packet) → events; returns (DONE, len) or
    (FALLBACK | GROW, index of the packet Python must handle, or make room for, first)."""
    for i in range(start, len(fid)):
        f, d, lo, ln = fid[i], 0 if is_orig[i] else 1, off[i], length[i]
        if flows[f, F_DIRTY + d]:
            return FALLBACK, i
        s = seq[i]
        kind = tcp.segment(flows[f, F_SEQ + d], s, lo, ln, end[i])
        if kind == tcp.SKIP:
            continue
        if kind == tcp.ASIDE:
            return FALLBACK, i
        pos, pdus, bad = lo, 0, False
        while pos < lo + ln:
            if lo + ln - pos < 6:
                return FALLBACK, i  # a frame continues in the next segment
            size = _be16(b, pos + 4)
            if _be16(b, pos + 2) != 0 or size < MBAP_MIN or size > MAX_LENGTH:
                bad = True
                break
            if pos + 6 + size > lo + ln:
                return FALLBACK, i
            pos += 6 + size
            pdus += 1
        if not bad and not room(pdus, keys, ev, jobs, cnt):
            return GROW, i
        flows[f, F_SEQ + d] = (s + ln) & tcp.SEQ_MASK
        if bad:  # Stream drops the segment's frames and counts the error
            cnt[C_ERRORS] += 1
            continue
        pos = lo
        while pos < lo + ln:
            size = 6 + _be16(b, pos + 4)
            decode_pdu(b, pos, size, f, is_orig[i], ts[i], flows, keys, vals, ev, jobs, cnt)
            pos += size
    return DONE, len(fid)


@njit(cache=True)
def decode_pdus(b, offs, sizes, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt):
    """Whole frames Python's Stream cut from one segment (the caller made room)."""
    for i in range(len(offs)):
        decode_pdu(b, offs[i], sizes[i], fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt)


@njit(cache=True)
def rehash(keys, vals, new_keys, new_vals):
    """Move the pending table into a larger one."""
    for i in range(len(keys)):
        if keys[i] != -1:
            at = -1 - _find(new_keys, keys[i])
            new_keys[at] = keys[i]
            new_vals[at] = vals[i]
