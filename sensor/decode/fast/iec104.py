"""IEC 60870-5-104 in numba: the packets of a chunk's IEC 104 flows → one row of event columns per
STARTDT/STOPDT U-frame and per I-format ASDU that is not an answer, answers paired with their
activation as ``sensor.decode.iec104.decode`` pairs them (by type, common address, first object
address and direction; a confirmation then a termination).

Every APCI is fixed binary fields, so the kernel takes every whole frame; a flow moves to Python
(``sensor.decode.fast.framed``) only at a frame split across segments, an overlap or a truncated
capture, or when more than 16,384 IEC 104 flows are held at once (its pending keys would not fit).

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast.moving import (BAD, C_DROPPED, DONE, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING, COUNTERS,  # noqa: F401
                                       F_MOVED, F_PENDING, F_SEQ, F_SERVED, F_SERVED_AT, F_SERVICES, F_SLOT, F_TOLD,
                                       FLOW_COLS, GROW, INCOMPLETE, INITIAL, JOB_COLS, MOVE, SERVICE,
                                       TAKEN)  # (read by the Python side)
from sensor.decode.fast.modbus import DROPPED, _find, _remove, answer, ask, new_row, rtt_us
from sensor.jit import njit

# event columns: format (I or U), type (or the U-frame's control), cause byte but its P/N bit,
# originator, common address, first information object address, objects, status, the answer's
# cause (-1: none), round-trip times to the confirmation (where modbus.answer sets it) and to the
# termination (-1: none)
E_FID, E_TS, E_FORMAT, E_TYPE, E_CAUSE, E_ORIGINATOR, E_COMMON, E_IOA, E_OBJECTS, E_STATUS, E_REPLY, E_RTT, \
    E_TERM_RTT = range(13)
EVENT_COLS = 13
KEY_COLS = (E_FID, E_FORMAT, E_TYPE, E_CAUSE, E_ORIGINATOR, E_COMMON, E_IOA, E_OBJECTS, E_STATUS, E_REPLY)
FORMAT_I, FORMAT_U = 0, 1
STATUS_NONE, STATUS_OK, STATUS_NEGATIVE = 0, 1, 2
# pending keys: fid << 49 | asker is the originator << 48 | type << 40 | common address << 24 | object address
FID_SHIFT = 49
MAX_FID = 1 << (63 - FID_SHIFT)
DROPPED_ANSWERED = -2  # pending value of a confirmed command whose event was dropped over the cap
START, MIN_LENGTH, MAX_LENGTH = 0x68, 4, 253
MIN_FRAME = 2 + MIN_LENGTH
ASDU_HEADER = 6
STARTDT_ACT, STARTDT_CON, STOPDT_ACT, STOPDT_CON = 0x07, 0x0B, 0x13, 0x23
ACT, DEACT, ACTCON, ACTTERM, FIRST_NEGATIVE = 6, 8, 7, 10, 44


@njit(cache=True, _nrt=False)
def size(b, pos, left):
    """iec104.frame: start byte and an APDU length of 4..253."""
    if left < 2:
        return INCOMPLETE
    if b[pos] != START or b[pos + 1] < MIN_LENGTH or b[pos + 1] > MAX_LENGTH:
        return BAD
    n = 2 + np.int64(b[pos + 1])
    return n if n <= left else INCOMPLETE


@njit(cache=True, _nrt=False)
def takes(b, o, n, ev):
    return TAKEN


@njit(cache=True, _nrt=False)
def _answers(cause):
    return cause == ACTCON or cause == 9 or cause == ACTTERM or FIRST_NEGATIVE <= cause <= 47


@njit(cache=True, _nrt=False)
def _row(ev, cnt, fid, ts, form, kind):
    k = new_row(cnt)
    if k >= 0:
        ev[k, :] = 0
        ev[k, E_FID], ev[k, E_TS], ev[k, E_FORMAT], ev[k, E_TYPE] = fid, ts, form, kind
        ev[k, E_REPLY], ev[k, E_RTT], ev[k, E_TERM_RTT] = -1, -1, -1
    return k


@njit(cache=True, _nrt=False)
def _terminated(keys, vals, flows, pending, cnt, ev, fid, key, ts):
    """A termination after the confirmation: the command's termination round-trip time, no event."""
    at = _find(keys, key)
    if at < 0:
        return False
    k = vals[at]
    if k != DROPPED_ANSWERED and (k < 0 or ev[k, E_RTT] < 0):
        return False
    _remove(keys, vals, at)
    flows[fid, pending] -= 1
    cnt[C_PENDING] -= 1
    if k >= 0:
        ev[k, E_TERM_RTT] = rtt_us(ev[k, E_TS], ts)
    return True


@njit(cache=True, _nrt=False)
def decode(b, o, n, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt):
    """One whole APDU b[o:o+n], as iec104.decode."""
    control = b[o + 2]
    if control & 0x03 == 0x03:
        if control == STARTDT_ACT or control == STARTDT_CON or control == STOPDT_ACT or control == STOPDT_CON:
            _row(ev, cnt, fid, ts, FORMAT_U, control)
        return True
    if control & 0x01:
        return True  # S-format
    if n - 6 < ASDU_HEADER + 3:
        return False
    a = o + 6
    kind, cause_byte, common = np.int64(b[a]), np.int64(b[a + 2]), np.int64(b[a + 4]) | np.int64(b[a + 5]) << 8
    ioa = np.int64(b[a + 6]) | np.int64(b[a + 7]) << 8 | np.int64(b[a + 8]) << 16
    cause = cause_byte & 0x3F
    point = (kind << 40) | (common << 24) | ioa
    if _answers(cause):
        key = (fid << FID_SHIFT) | (np.int64(not is_orig) << 48) | point
        if cause == ACTTERM and _terminated(keys, vals, flows, pending, cnt, ev, fid, key, ts):
            return True
        paired, k = answer(flows, pending, keys, vals, cnt, ev, fid, key, ts)
        if paired:
            if k >= 0:
                ev[k, E_STATUS] = STATUS_NEGATIVE if cause_byte & 0x40 or cause >= FIRST_NEGATIVE else STATUS_OK
                ev[k, E_REPLY] = cause
            if cause == ACTCON:  # the termination may follow
                ask(flows, pending, keys, vals, cnt, fid, key, k if k >= 0 else DROPPED_ANSWERED)
            return True
    k = _row(ev, cnt, fid, ts, FORMAT_I, kind)
    if k >= 0:
        ev[k, E_CAUSE], ev[k, E_ORIGINATOR], ev[k, E_COMMON], ev[k, E_IOA] = cause_byte & 0xBF, b[a + 3], common, ioa
        ev[k, E_OBJECTS] = b[a + 1] & 0x7F
        ev[k, E_STATUS] = STATUS_NEGATIVE if cause_byte & 0x40 else STATUS_NONE
    if cause == ACT or cause == DEACT:  # a command awaiting its confirmation
        key = (fid << FID_SHIFT) | (np.int64(is_orig) << 48) | point
        ask(flows, pending, keys, vals, cnt, fid, key, k if k >= 0 else DROPPED)
    return True
