"""DNP3 over TCP in numba: the packets of a chunk's DNP3 flows → one row of event columns per
application request and per unpaired response, a request answered by the next solicited response
the other way, as ``sensor.decode.dnp3.decode`` reads link frames, transport segments and
application fragments.

The kernel takes link frames without user data, and application fragments whose object headers
it can hold: at most MAX_HEADERS headers each way, ranges and counts below 2²² (the labels
``g<group>v<variation>[range or count]`` are kept as one int64 word a header). A fragment in one
link frame (transport FIR and FIN) is read in place; the segments of one spread over frames are put
together by Python (``sensor.meter.fast_dnp3``), which hands the whole fragment back (``assembled``).
A fragment with more or larger headers, a frame split across segments, an overlap or a truncated
capture move the flow to Python (``sensor.decode.fast.framed``). Link CRCs are not checked, as the
Python decoder does not check them.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode import dnp3
from sensor.decode.fast import moving
from sensor.decode.fast.moving import (BAD, C_DROPPED, DONE, C_ERRORS, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING, COUNTERS,  # noqa: F401
                                       F_MOVED, F_PENDING, F_SEQ, F_SERVED, F_SERVED_AT, F_SERVICES, F_SLOT, F_TOLD,
                                       GROW, INCOMPLETE, JOB_COLS, MOVE, NOT_TAKEN, PIECES, SERVICE,
                                       TAKEN)  # (read by the Python side)
from sensor.decode.fast.modbus import DROPPED, answer, ask, new_row
from sensor.jit import njit

MAX_HEADERS = 8  # object headers held per fragment
# per-flow state: moving's, and per direction whether Python holds the start of a fragment
F_PARTIAL = moving.FLOW_COLS
FLOW_COLS = F_PARTIAL + 2
INITIAL = (*moving.INITIAL, 0, 0)
MIN_FRAME = 10  # a link header and its CRC
# event columns: function, the request's object headers (0: none), round-trip time (E_TS and
# E_RTT where modbus.answer sets it), link source and destination, the answer's function (-1: none),
# internal indications and object headers
E_FID, E_TS, E_FUNCTION, E_OBJECTS = 0, 1, 2, 3
E_RTT = E_OBJECTS + MAX_HEADERS
E_SRC, E_DST, E_REPLY, E_IIN, E_REPLY_OBJECTS = E_RTT + 1, E_RTT + 2, E_RTT + 3, E_RTT + 4, E_RTT + 5
EVENT_COLS = E_REPLY_OBJECTS + MAX_HEADERS
KEY_COLS = (E_FID, *range(E_FUNCTION, E_RTT), *range(E_SRC, EVENT_COLS))
# an object header word: group << 54 | variation << 46 | label << 44 | a << 22 | b (a, b < 2²²)
LABEL_NONE, LABEL_RANGE, LABEL_COUNT = 1, 2, 3  # g1v2, g1v2[a-b], g1v2[a]
VALUE_BITS = 22
# pending keys: fid << 1 | the asker is the originator
FID_SHIFT = 1
MAX_FID = 1 << 62
RESPONSE, UNSOLICITED, AUTH_RESPONSE, CONFIRM = 0x81, 0x82, 0x83, 0x00
HEADER_ONLY = np.zeros(256, np.bool_)
HEADER_ONLY[list(dnp3.HEADER_ONLY)] = True
SIZES = np.full((256, 256), -1, np.int8)  # object size by group and variation (-1: not known)
for (_group, _variation), _size in dnp3.SIZES.items():
    SIZES[_group, _variation] = _size
PREFIX_SIZES = np.array([0, 1, 2, 4, 1, 2, 4], np.int64)
# walk results
WALKED, MALFORMED, UNTAKEN = 0, 1, 2
# what _fragment finds of a link frame; _function's code of a fragment the decoder fails on
SKIPPED, FAILS, SEGMENT, WHOLE = 0, 1, 2, 3


@njit(cache=True, _nrt=False)
def size(b, pos, left):
    """dnp3.frame: start bytes, a length of 5 or more; 10 header bytes, user data in CRC blocks."""
    if left < 3:
        return INCOMPLETE
    if b[pos] != 0x05 or b[pos + 1] != 0x64 or b[pos + 2] < 5:
        return BAD
    user = np.int64(b[pos + 2]) - 5
    n = 10 + user + 2 * ((user + 15) // 16)
    return n if n <= left else INCOMPLETE


@njit(cache=True, _nrt=False)
def _at(o, u, crc):
    """Offset of user-data byte ``u``: of the link frame at ``o`` (``crc``: 16 bytes a CRC block), or
    of user data laid out whole from ``o``."""
    return o + 10 + (u >> 4) * 18 + (u & 15) if crc else o + u


@njit(cache=True, _nrt=False)
def _le(b, o, crc, u, width, end):
    """int.from_bytes(data[u:u+width], "little") of the user data (``end`` bytes; short at its end)."""
    value = np.int64(0)
    for j in range(min(width, end - u)):
        value |= np.int64(b[_at(o, u + j, crc)]) << (8 * j)
    return value


@njit(cache=True, _nrt=False)
def _walk(b, o, crc, pos, end, header_only, ev, k, col):
    """dnp3._walk over user data [pos, end): the header words into ev[k, col:col+MAX_HEADERS]
    (k ≥ 0); returns (headers, WALKED | MALFORMED | UNTAKEN)."""
    n = 0
    if k >= 0:
        ev[k, col : col + MAX_HEADERS] = 0
    while pos + 3 <= end:
        group, variation = np.int64(b[_at(o, pos, crc)]), np.int64(b[_at(o, pos + 1, crc)])
        qualifier = b[_at(o, pos + 2, crc)]
        pos += 3
        prefix, code = (qualifier >> 4) & 0x07, qualifier & 0x0F
        if prefix == 7:
            return n, MALFORMED
        if code <= 5:
            width = 1 if code % 3 == 0 else 2 if code % 3 == 1 else 4
            a, c = _le(b, o, crc, pos, width, end), _le(b, o, crc, pos + width, width, end)
            pos += 2 * width
            count, label = c - a + 1, LABEL_RANGE
        elif code == 7 or code == 8 or code == 9 or code == 0xB:
            width = 2 if code == 8 else 4 if code == 9 else 1
            a, c = _le(b, o, crc, pos, width, end), 0
            pos += width
            count, label = a, LABEL_COUNT
        elif code == 6:
            a, c, count, label = 0, 0, 0, LABEL_NONE
        else:
            return n, MALFORMED
        if pos > end or count < 0:
            return n, MALFORMED
        if n == MAX_HEADERS or a >> VALUE_BITS or c >> VALUE_BITS:
            return n, UNTAKEN
        if k >= 0:
            ev[k, col + n] = group << 54 | variation << 46 | np.int64(label) << 44 | a << VALUE_BITS | c
        n += 1
        if header_only or count == 0 or (group == 60 and 1 <= variation <= 4):
            continue
        item = SIZES[group, variation]
        if item < 0:
            if prefix >= 4:  # each object is preceded by its own size
                width = PREFIX_SIZES[prefix]
                if count * width > end - pos:
                    return n, MALFORMED
                for _ in range(count):
                    pos += width + _le(b, o, crc, pos, width, end)
            elif (group == 110 or group == 111) and variation:  # octet strings: the variation is the length
                pos += count * (PREFIX_SIZES[prefix] + variation)
            else:
                break
        elif item == 0:  # packed bits, no prefixes
            pos += (count * (2 if group == 3 or group == 4 else 1) + 7) // 8
        else:
            pos += count * (PREFIX_SIZES[prefix] + item)
    return n, WALKED


@njit(cache=True, _nrt=False)
def fragment(b, o):
    """(user data bytes, SKIPPED | FAILS | SEGMENT | WHOLE) of the link frame at ``o``: skipped by the
    decoder (no user data, or link-layer service only), failed on (malformed), a segment of a fragment
    spread over frames (or one whose start the kernel did not see), a whole fragment."""
    control, user = b[o + 3], np.int64(b[o + 2]) - 5
    if not control & 0x40 or (control & 0x0F != 3 and control & 0x0F != 4):
        return user, SKIPPED
    if user == 0:
        return user, FAILS
    transport = b[_at(o, 0, True)]
    return user, WHOLE if transport & 0xC0 == 0xC0 else SEGMENT


@njit(cache=True, _nrt=False)
def _function(b, o, crc, user):
    """(function, offset of the object headers) of the fragment in user data [1, user); -1 when the
    decoder fails on it (too short)."""
    if user < 3:
        return -1, 0
    function = np.int64(b[_at(o, 2, crc)])
    if function == RESPONSE or function == UNSOLICITED or function == AUTH_RESPONSE:
        return (function, 5) if user >= 5 else (-1, 0)
    return function, 3


@njit(cache=True, _nrt=False)
def fits(b, o, crc, user, ev):
    """Whether the event row holds the fragment's object headers."""
    function, objects = _function(b, o, crc, user)
    return function < 0 or _walk(b, o, crc, objects, user, objects == 3 and HEADER_ONLY[function], ev, -1, 0)[1] \
        != UNTAKEN


@njit(cache=True, _nrt=False)
def takes(b, o, n, ev):
    user, kind = fragment(b, o)
    if kind == SEGMENT:
        return PIECES
    return TAKEN if kind != WHOLE or fits(b, o, True, user, ev) else NOT_TAKEN


@njit(cache=True, _nrt=False)
def _new(ev, cnt, fid, ts, function, src, dst):
    k = new_row(cnt)
    if k >= 0:
        ev[k, :] = 0
        ev[k, E_FID], ev[k, E_TS], ev[k, E_FUNCTION], ev[k, E_SRC], ev[k, E_DST] = fid, ts, function, src, dst
        ev[k, E_REPLY], ev[k, E_RTT] = -1, -1
    return k


@njit(cache=True, _nrt=False)
def _application(b, o, crc, user, src, dst, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt):
    """dnp3._application of the fragment in user data [1, user); False when it fails (malformed)."""
    function, objects = _function(b, o, crc, user)
    if function < 0:
        return False
    if objects == 3:  # a request
        k = _new(ev, cnt, fid, ts, function, src, dst)
        status = _walk(b, o, crc, objects, user, HEADER_ONLY[function], ev, k, E_OBJECTS)[1]
        if function != CONFIRM:
            ask(flows, pending, keys, vals, cnt, fid, fid << 1 | np.int64(is_orig), k if k >= 0 else DROPPED)
    else:
        paired, k = False, DROPPED
        if function == RESPONSE:
            paired, k = answer(flows, pending, keys, vals, cnt, ev, fid, fid << 1 | np.int64(not is_orig), ts)
        if not paired:
            k = _new(ev, cnt, fid, ts, function, src, dst)
        if k >= 0:
            ev[k, E_REPLY] = function
            ev[k, E_IIN] = np.int64(b[_at(o, 3, crc)]) << 8 | np.int64(b[_at(o, 4, crc)])
        status = _walk(b, o, crc, objects, user, False, ev, k, E_REPLY_OBJECTS)[1]
    if status == MALFORMED:
        cnt[C_ERRORS] += 1
    return True


@njit(cache=True, _nrt=False)
def decode(b, o, n, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt):
    """One link frame b[o:o+n] but a SEGMENT, as dnp3.decode."""
    user, kind = fragment(b, o)
    if kind != WHOLE:
        return kind == SKIPPED
    flows[fid, F_PARTIAL + (0 if is_orig else 1)] = 0  # a fragment's start: one Python held is dropped
    src, dst = np.int64(b[o + 6]) | np.int64(b[o + 7]) << 8, np.int64(b[o + 4]) | np.int64(b[o + 5]) << 8
    return _application(b, o, True, user, src, dst, fid, is_orig, ts, flows, pending, keys, vals, ev, cnt)


@njit(cache=True, _nrt=False)
def assembled(b, user, src, dst, fid, is_orig, ts, flows, keys, vals, ev, cnt):
    """A fragment Python put together, b[1:user] (after a transport header byte), as dnp3.decode."""
    return _application(b, 0, False, user, src, dst, fid, is_orig, ts, flows, F_PENDING, keys, vals, ev, cnt)
