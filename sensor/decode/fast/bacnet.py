"""BACnet/IP in numba: the datagrams of a chunk's BACnet flows → one row of event columns per confirmed
request, unanswered answer, unconfirmed request, network-layer message and BVLL-only function, answers
paired with their request by invoke id and direction as ``sensor.decode.bacnet.decode`` pairs them.

The kernel reads BVLC, NPDU (addresses and hop count) and APDU headers, the object and property of
read/write-property requests, I-Am and Who-Is fields and Error PDUs' codes, raising where the Python
decoder raises (counted malformed). An I-Am's device and vendor ids and read-property(-multiple)
Complex-ACKs become jobs: Python names the vendor and reads device objects' properties with the
decoder's own functions, and an I-Have's object name is decoded there too (its row holds the name's
number); the segments of a segmented Complex-ACK are put back together there (the kernel pairs its
first segment with the request). No flow moves to Python.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast.fins import row  # (E_FID … E_BVLC: its six columns)
from sensor.decode.fast.modbus import DROPPED, answer, ask, room
from sensor.decode.fast.moving import (C_DROPPED, C_ERRORS, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING,  # noqa: F401
                                       COUNTERS, DONE, F_MOVED, F_PENDING, F_SEQ, F_SERVED, F_SERVED_AT, F_SERVICES,
                                       F_SLOT, F_TOLD, FLOW_COLS, GROW, INITIAL, MOVE, SERVICE)  # (read by Python)
from sensor.jit import njit

# event columns: kind (below), code (service, BVLC function or network message), the PDU type the
# event names (-1: none), BVLC function, invoke id (-1: none), status (-1: none; STATUS_* + code),
# the answer's PDU type (-1: none), object type, instance, property, array index, vendor id, Who-Is
# range, I-Have's device and object name (its number in the path's names) (-1: none each); round-trip
# time at 11 (E_TS and E_RTT where modbus.answer sets them)
E_FID, E_TS, E_KIND, E_CODE, E_PDU, E_BVLC, E_INVOKE, E_STATUS, E_REPLY, E_OBJECT, E_INSTANCE, E_RTT, E_PROPERTY, \
    E_INDEX, E_VENDOR, E_LOW, E_HIGH, E_DEVICE, E_NAME = range(19)
EVENT_COLS = 19
KEY_COLS = (E_FID, E_KIND, E_CODE, E_PDU, E_BVLC, E_STATUS, E_REPLY, E_OBJECT, E_INSTANCE, E_PROPERTY, E_INDEX,
            E_VENDOR, E_LOW, E_HIGH, E_DEVICE, E_NAME)
KIND_REQUEST, KIND_ANSWER, KIND_UNCONFIRMED, KIND_BVLL, KIND_NETWORK = range(5)
STATUS_OK, STATUS_ERROR, STATUS_REJECT, STATUS_ABORT = 0, 1 << 32, 2 << 32, 3 << 32  # + a code of up to 4 bytes
# jobs: flow, time, kind, sent by the originator, relayed; I-Am: instance, vendor id; answers: service,
# offset and length of the property values in the buffer; I-Have: event row, offset and length of the
# object name (a character string); Complex-ACK segments: invoke id, offset and length of the APDU
J_FID, J_TS, J_KIND, J_ORIG, J_RELAYED, J_A, J_B, J_C = range(8)
JOB_COLS = 8
JOB_I_AM, JOB_PROPERTIES, JOB_NAME, JOB_FIRST_SEGMENT, JOB_LATER_SEGMENT = 1, 2, 3, 4, 5
FID_SHIFT = 9  # pending keys: fid << 9 | invoke id << 1 | the request came from the originator
# decode() results
NOT_BACNET, MALFORMED, DECODED = 0, 1, 2
BVLC_TYPE, MIN_DATAGRAM = 0x81, 4
CONFIRMED, UNCONFIRMED, SIMPLE_ACK, COMPLEX_ACK, SEGMENT_ACK, ERROR, REJECT, ABORT = range(8)
READ_PROPERTY, READ_PROPERTY_MULTIPLE, WRITE_PROPERTY, I_AM, I_HAVE, WHO_IS = 12, 14, 15, 0, 1, 8
OBJECT_ID, ENUMERATED = 12, 9  # application tag numbers
OPENING, CLOSING = 6, 7


@njit(cache=True, _nrt=False)
def _bvlc(function):
    return function <= 0x0C  # bacnet.BVLC_FUNCTIONS


@njit(cache=True, _nrt=False)
def _tag(b, pos, end):
    """bacnet._tag at ``pos`` (the buffer ending at ``end``): (number, context, lvt, content offset,
    content length, next position); next position -1 where it raises."""
    if pos >= end:
        return 0, False, 0, 0, 0, -1
    first = np.int64(b[pos])
    number, context, lvt = first >> 4, (first & 0x08) != 0, first & 0x07
    pos += 1
    if number == 15:
        if pos >= end:
            return 0, False, 0, 0, 0, -1
        number = np.int64(b[pos])
        pos += 1
    if (context and (lvt == OPENING or lvt == CLOSING)) or (not context and number == 1):
        return number, context, lvt, pos, 0, pos
    length = lvt
    if lvt == 5:
        if pos >= end:
            return 0, False, 0, 0, 0, -1
        length = np.int64(b[pos])
        pos += 1
        if length == 254 or length == 255:
            size = 2 if length == 254 else 4
            if pos + size > end:
                return 0, False, 0, 0, 0, -1
            length = 0
            for i in range(size):
                length = (length << 8) | np.int64(b[pos + i])
            pos += size
    if pos + length > end:
        return 0, False, 0, 0, 0, -1
    return number, context, lvt, pos, length, pos + length


@njit(cache=True, _nrt=False)
def _unsigned(b, o, n):
    """bacnet._unsigned: the value, -1 where it raises."""
    if n < 1 or n > 4:
        return -1
    value = np.int64(0)
    for i in range(n):
        value = (value << 8) | np.int64(b[o + i])
    return value


@njit(cache=True, _nrt=False)
def _object_id(b, o):
    """The 32 bits of an object identifier: object type << 22 | instance."""
    return (np.int64(b[o]) << 24) | (np.int64(b[o + 1]) << 16) | (np.int64(b[o + 2]) << 8) | np.int64(b[o + 3])


@njit(cache=True, _nrt=False)
def _job(jobs, cnt, fid, ts, kind, is_orig, relayed, a, b_, c):
    j = cnt[C_JOBS]
    cnt[C_JOBS] = j + 1
    jobs[j, J_FID], jobs[j, J_TS], jobs[j, J_KIND] = fid, ts, kind
    jobs[j, J_ORIG], jobs[j, J_RELAYED] = is_orig, relayed
    jobs[j, J_A], jobs[j, J_B], jobs[j, J_C] = a, b_, c


@njit(cache=True, _nrt=False)
def _request_fields(b, pos, end, ev, k):
    """bacnet._request_fields of read/write-property (into row k, if any); False where it raises."""
    while pos < end:
        number, context, lvt, o, n, nxt = _tag(b, pos, end)
        if nxt < 0:
            return False
        if not context or lvt == OPENING or lvt == CLOSING:
            break
        if number == 0:
            if n != 4:
                return False
            if k >= 0:
                value = _object_id(b, o)
                ev[k, E_OBJECT], ev[k, E_INSTANCE] = value >> 22, value & 0x3FFFFF
        elif number == 1 or number == 2:
            value = _unsigned(b, o, n)
            if value < 0:
                return False
            if k >= 0:
                ev[k, E_PROPERTY if number == 1 else E_INDEX] = value
        pos = nxt
    return True


@njit(cache=True, _nrt=False)
def _error_code(b, pos, end):
    """bacnet._error_code: the error code, -1 where it raises."""
    seen, code = 0, np.int64(-1)
    while pos < end:
        number, context, lvt, o, n, nxt = _tag(b, pos, end)
        if nxt < 0:
            return -1
        if not context and number == ENUMERATED:
            value = _unsigned(b, o, n)
            if value < 0:
                return -1
            seen += 1
            if seen == 2:
                code = value
        pos = nxt
    return code if seen >= 2 else -1


@njit(cache=True, _nrt=False)
def _unconfirmed(b, pos, end, service, k, ev):
    """bacnet._unconfirmed's fields of an I-Am, I-Have or Who-Is (into row k, if any): (False where it
    raises, I-Am's instance and vendor id or I-Have's object name's offset and length)."""
    if service != I_AM and service != I_HAVE and not (service == WHO_IS and pos < end):
        return True, -1, -1
    count, first_number, first_context, first_o, first_n, fourth_o, fourth_n = 0, 0, False, 0, 0, 0, 0
    second_o, second_n, third_o, third_n = 0, 0, 0, 0
    while pos < end:
        number, context, lvt, o, n, nxt = _tag(b, pos, end)
        if nxt < 0:
            return False, -1, -1
        if count == 0:
            first_number, first_context, first_o, first_n = number, context, o, n
        elif count == 1:
            second_o, second_n = o, n
        elif count == 2:
            third_o, third_n = o, n
        elif count == 3:
            fourth_o, fourth_n = o, n
        count += 1
        pos = nxt
    if service == WHO_IS:
        if count == 2:
            low, high = _unsigned(b, first_o, first_n), _unsigned(b, second_o, second_n)
            if low < 0 or high < 0:
                return False, -1, -1
            if k >= 0:
                ev[k, E_LOW], ev[k, E_HIGH] = low, high
        return True, -1, -1
    if service == I_HAVE:  # device id, object id, object name (its offset and length)
        if count < 3 or first_n != 4 or second_n != 4 or third_n < 1:
            return False, -1, -1
        if k >= 0:
            ev[k, E_DEVICE] = _object_id(b, first_o) & 0x3FFFFF
            value = _object_id(b, second_o)
            ev[k, E_OBJECT], ev[k, E_INSTANCE] = value >> 22, value & 0x3FFFFF
        return True, third_o, third_n
    if count < 4 or first_number != OBJECT_ID or first_context or first_n != 4:
        return False, -1, -1
    vendor = _unsigned(b, fourth_o, fourth_n)
    if vendor < 0:
        return False, -1, -1
    value = _object_id(b, first_o)
    if k >= 0:
        ev[k, E_OBJECT], ev[k, E_INSTANCE], ev[k, E_VENDOR] = value >> 22, value & 0x3FFFFF, vendor
    return True, value & 0x3FFFFF, vendor


@njit(cache=True, _nrt=False)
def decode(b, o, n, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt):
    """One datagram b[o:o+n], as bacnet.decode: NOT_BACNET (raised before the service is confirmed),
    MALFORMED (raised after) or DECODED."""
    end = o + n
    if n < 2 or b[o] != BVLC_TYPE or not _bvlc(b[o + 1]):
        return NOT_BACNET
    function = np.int64(b[o + 1])
    if not (function == 0x04 or function == 0x09 or function == 0x0A or function == 0x0B):
        row(ev, cnt, fid, ts, KIND_BVLL, function, -1, function)
        return DECODED
    pos = o + (10 if function == 0x04 else 4)  # bacnet._npdu
    if pos + 1 >= end or b[pos] != 0x01:
        return MALFORMED
    control = np.int64(b[pos + 1])
    pos += 2
    for flag in (0x20, 0x08):
        if control & flag:
            if pos + 2 >= end:
                return MALFORMED
            pos += 3 + np.int64(b[pos + 2])
    if control & 0x20:
        pos += 1
    relayed = function == 0x04 or (control & 0x08) != 0
    if control & 0x80:
        if pos >= end:
            return MALFORMED
        row(ev, cnt, fid, ts, KIND_NETWORK, b[pos], -1, function)
        return DECODED
    if pos >= end:
        return MALFORMED
    a, size = pos, end - pos  # the APDU
    kind = np.int64(b[a]) >> 4
    segmented = (b[a] & 0x08) != 0
    if kind > ABORT:
        return MALFORMED
    if kind == CONFIRMED:
        at = 5 if segmented else 3
        if size <= at:
            return MALFORMED
        invoke, service = np.int64(b[a + 2]), np.int64(b[a + at])
        if segmented and b[a + 3] != 0:  # a later segment of a request already counted
            return DECODED
        if service == READ_PROPERTY or service == WRITE_PROPERTY:  # (its fields before any row: it may raise)
            if not _request_fields(b, a + at + 1, end, ev, -1):
                return MALFORMED
        k = row(ev, cnt, fid, ts, KIND_REQUEST, service, CONFIRMED, function)
        if k >= 0:
            ev[k, E_INVOKE] = invoke
            if service == READ_PROPERTY or service == WRITE_PROPERTY:
                _request_fields(b, a + at + 1, end, ev, k)
        key = (fid << FID_SHIFT) | (invoke << 1) | np.int64(is_orig)
        ask(flows, F_PENDING, keys, vals, cnt, fid, key, k if k >= 0 else DROPPED)
        return DECODED
    if kind == UNCONFIRMED:
        if size < 2:
            return MALFORMED
        service = np.int64(b[a + 1])
        ok, x, y = _unconfirmed(b, a + 2, end, service, -1, ev)
        if not ok:
            return MALFORMED
        k = row(ev, cnt, fid, ts, KIND_UNCONFIRMED, service, UNCONFIRMED, function)
        if k >= 0:
            _unconfirmed(b, a + 2, end, service, k, ev)
            if service == I_HAVE:
                _job(jobs, cnt, fid, ts, JOB_NAME, is_orig, relayed, k, x, y)
        if service == I_AM and not relayed:  # (x, y: the device's instance and vendor id)
            _job(jobs, cnt, fid, ts, JOB_I_AM, is_orig, relayed, x, y, 0)
        return DECODED
    if kind == SEGMENT_ACK:
        return DECODED
    if size < 2:
        return MALFORMED
    invoke = np.int64(b[a + 1])
    if kind == COMPLEX_ACK and segmented:
        if size < 3:
            return MALFORMED
        if b[a + 2] != 0:  # a later segment: no event, put with the first in Python
            _job(jobs, cnt, fid, ts, JOB_LATER_SEGMENT, is_orig, relayed, invoke, a, size)
            return DECODED
    key = (fid << FID_SHIFT) | (invoke << 1) | np.int64(not is_orig)
    paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, key, ts)
    if not paired:
        service = -1
        if kind == SIMPLE_ACK or kind == COMPLEX_ACK or kind == ERROR:
            at = 4 if segmented and kind == COMPLEX_ACK else 2
            if size <= at:
                return MALFORMED
            service = np.int64(b[a + at])
        status = _status(b, a, size, end, kind)
        if status == -1:
            return MALFORMED
        k = row(ev, cnt, fid, ts, KIND_ANSWER, service, kind, function)
        if k >= 0:
            ev[k, E_INVOKE] = invoke
    elif k >= 0:
        ev[k, E_REPLY] = kind
        status = _status(b, a, size, end, kind)
        if status == -1:
            return MALFORMED
    else:  # paired with a request dropped over the cap: as Python, only whether it raises counts
        status = _status(b, a, size, end, kind)
        if status == -1:
            return MALFORMED
    if k >= 0:
        ev[k, E_REPLY], ev[k, E_STATUS] = kind, status
    if kind == COMPLEX_ACK and segmented:  # the first segment: put together with the others in Python
        if size < 5:
            return MALFORMED
        _job(jobs, cnt, fid, ts, JOB_FIRST_SEGMENT, is_orig, relayed, invoke, a, size)
    elif kind == COMPLEX_ACK:
        if size < 3:
            return MALFORMED
        service = np.int64(b[a + 2])
        if service == READ_PROPERTY or service == READ_PROPERTY_MULTIPLE:
            _job(jobs, cnt, fid, ts, JOB_PROPERTIES, is_orig, relayed, service, a + 3, size - 3)
    return DECODED


@njit(cache=True, _nrt=False)
def _status(b, a, size, end, kind):
    """An answer's status as the E_STATUS column holds it; -1 where bacnet._apdu raises."""
    if kind == SIMPLE_ACK or kind == COMPLEX_ACK:
        return STATUS_OK
    if kind == ERROR:
        code = _error_code(b, a + 3, end) if size > 3 else -1
        return -1 if code < 0 else STATUS_ERROR + code
    if size < 3:
        return -1
    return (STATUS_REJECT if kind == REJECT else STATUS_ABORT) + np.int64(b[a + 2])


@njit(cache=True, _nrt=False)
def scan(b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt):
    """Datagrams start… of BACnet flows (fid per packet) → events; returns (DONE, len) or (GROW, index
    of the packet to make room for first)."""
    for i in range(start, len(fid)):
        f = fid[i]
        if not room(1, keys, ev, jobs, cnt):
            return GROW, i
        lo = off[i]
        result = decode(b, lo, max(min(lo + length[i], end[i]) - lo, 0), f, is_orig[i], ts[i], flows, keys, vals,
                        ev, jobs, cnt)
        if result != NOT_BACNET:
            flows[f, F_SERVICES] |= SERVICE
        if result != DECODED:
            cnt[C_ERRORS] += 1
        elif not is_orig[i] and not flows[f, F_SERVED]:
            flows[f, F_SERVED], flows[f, F_SERVED_AT] = SERVICE, ts[i]
    return DONE, len(fid)
