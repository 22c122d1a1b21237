"""EtherNet/IP explicit messaging (TCP 44818) in numba: the packets of a chunk's EtherNet/IP flows →
one row of event columns per encapsulation command or CIP message (the services inside a Multiple
Service Packet included), paired as ``sensor.decode.enip.decode`` and ``sensor.decode.cip.events``
pair them: by (command, sender context), by sender context (Send RR Data) or by connection
sequence count (Send Unit Data), each embedded service by its position.

The kernel takes a flow's in-sequence segments of whole encapsulation messages it fully
understands: commands without data, Send RR Data / Send Unit Data with CPF items and a CIP request
or response (EPATH of logical, port and ANSI symbolic segments; Multiple Service Packet one level
deep; Unconnected Send), and Identity requests (Get Attributes All, Get Attribute Single and List,
also routed to a module by an Unconnected Send), kept until answered as cip.py keeps them; their
answers become jobs read by the Python decoder's parsers. It checks a whole segment before it
decodes any of it; at the first segment it does not take (a message split or overlapped, List
Identity replies, CIP I/O, an Identity request it cannot hold, anything the decoder would reject)
it returns MOVE and the flow goes on in Python from that segment on.

Strings stay out of the rows: a kept request's symbolic tag name is interned once per distinct
value into a byte arena (``tag_*``: a hash table, keyed by SipHash under the path's secret, whose
entries are compared byte for byte), and its row holds the tag's number. The tags and their bytes
never pass the caps the path sets (C_MAX_TAGS, C_MAX_ARENA): a segment that would intern past them
moves its flow to Python. A sender context's low 32 bits go into the pending-table key, its high 32
bits are one of the flow's CTX_SLOTS values (F_CTX…), by their slot; a slot takes new high bits
only while no key of the flow's is made under it, so keys stay exact. The flow counts its keys under
each slot (F_LIVE…, F_LIVE_ASKED…), so a request finds a free slot without looking at the tables.

Columns, state and results are plain int64 arrays (see the index names below); timestamps are µs.
"""

from __future__ import annotations

import numpy as np

from sensor.decode.fast import siphash, tcp
from sensor.decode.fast.modbus import (C_DROPPED, C_ERRORS, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING,  # noqa: F401
                                       MAX_PENDING, _find, _remove, _slot, answer, ask, new_row, room)
from sensor.jit import njit

# event columns (E_TS and E_RTT where the Modbus kernel's are: its ``answer`` sets the rtt);
# -1: absent. ENIP rows: command, session handle, encapsulation status; CIP rows: service, path
# fields, tag number, the carrying command, general and extended status, sequence count
E_FID, E_TS, E_PROTO, E_NAME, E_CLASS, E_INSTANCE, E_ATTRIBUTE, E_TAG, E_COMMAND, E_STATUS, E_EXT, E_RTT, \
    E_SESSION, E_SEQ = range(14)
EVENT_COLS = 14
KEY_COLS = (E_FID, E_PROTO, E_NAME, E_CLASS, E_INSTANCE, E_ATTRIBUTE, E_TAG, E_COMMAND, E_STATUS, E_EXT,
            E_SESSION)  # fold.py's _key
P_ENIP, P_CIP = 0, 1
NONE = -1
# per-flow state: next sequence number per direction (-1: none yet), services (bits), whether the
# responder served them this interval and when, requests pending, the flow-table slot, whether the
# flow went on in Python, (not read here) the services told, Identity requests awaiting their
# answer (kept across intervals, as the decoder's), sender contexts' high 32 bits by slot (-1: free),
# the flow's keys made under each slot in the pending table and in the asked table (Send Unit Data
# keys, made under no slot, aside)
F_SEQ, F_SERVICES, F_SERVED, F_SERVED_AT, F_PENDING, F_SLOT, F_MOVED, F_TOLD, F_ASKED, F_CTX = 0, 2, 3, 4, 5, 6, 7, 8, \
    9, 10
CTX_SLOTS = 4
F_LIVE = F_CTX + CTX_SLOTS
F_LIVE_ASKED = F_LIVE + CTX_SLOTS
FLOW_COLS = F_LIVE_ASKED + CTX_SLOTS
INITIAL = (-1, -1, 0, 0, 0, 0, 0, 0, 0, 0) + (-1,) * CTX_SLOTS + (0,) * (2 * CTX_SLOTS)  # (its slot set apart)
SVC_ENIP = 1
# Identity answers for Python: flow, time, offset and length of the reply data, the reply's service,
# the attributes asked, sender is the originator
J_FID, J_TS, J_OFF, J_LEN, J_SERVICE, J_WANTED, J_ORIG = range(7)
JOB_COLS = 7
# the Identity attributes a request asks for: how many (1 to MAX_WANTED) << COUNT_SHIFT | their ids
# (up to MAX_ID) in ID_BITS each, the first in the low bits (Get Attributes All: 1 to 7, as
# cip.IDENTITY_ATTRIBUTES); for a request an Unconnected Send carries to a module, also ROUTED | port
# << PORT_SHIFT | link (up to MAX_LINK) << LINK_SHIFT
ID_BITS, MAX_ID, MAX_WANTED, COUNT_SHIFT = 7, 127, 7, 49
ROUTED, PORT_SHIFT, LINK_SHIFT, MAX_LINK = 1 << 52, 53, 57, 63
WANT_ALL = 7 << COUNT_SHIFT | sum(attribute << (ID_BITS * i) for i, attribute in enumerate(range(1, 8)))
# counters as the Modbus kernel's, then the tags interned, the arena bytes they take, Identity
# requests awaiting their answer; settings: the caps on tags and arena bytes, the tag hash's 128-bit
# secret (two int64 holding its bits)
C_TAGS, C_ARENA, C_ASKED, C_MAX_TAGS, C_MAX_ARENA, C_K0, C_K1 = 6, 7, 8, 9, 10, 11, 12
COUNTERS = 13
DONE, MOVE, GROW = 0, 1, 2
# pending-table keys: fid << 45 | context slot << 43 | kind << 40 | index << 32 | the low 32 bits of
# the context (or the sequence count); index: the command (K_ENIP) or the embedded service's position
# (0: the message)
K_ENIP, K_RR, K_UNIT = 0, 1, 2
FID_SHIFT, CTX_SHIFT = 45, 43
DROPPED = -1  # pending value of a request whose event was dropped over the cap (else the event row)
MAX_PARTS = 255  # services of a Multiple Service Packet the kernel takes
PATH_MAX = 512  # bytes of a tag name (an EPATH holds at most 510)
# scratch values (``pv``): the path's class, instance, attribute (-1: absent) and tag name length (the
# name in ``name``); an Unconnected Send's embedded service, the offset and length of its data, its
# route; while checking a segment, new context high bits it brings (-1: none), the slot they take,
# the slots its requests use (bits), and the tags it may intern and their bytes (at most)
V_CLASS, V_INSTANCE, V_ATTRIBUTE, V_TAG, U_SERVICE, U_DATA, U_SIZE, U_ROUTE, X_NEW_HI, X_NEW_SLOT, X_USED, X_TAGS, \
    X_BYTES = range(13)

SEND_RR_DATA, SEND_UNIT_DATA, LIST_IDENTITY = 0x6F, 0x70, 0x63
ITEM_CONNECTED, ITEM_UNCONNECTED = 0xB1, 0xB2
MSP, UNCONNECTED_SEND, CONNECTION_MANAGER, IDENTITY = 0x0A, 0x52, 0x06, 0x01
GET_ALL, GET_LIST, GET_SINGLE = 0x01, 0x03, 0x0E
SYMBOLIC = 0x91


@njit(cache=True, _nrt=False)
def _le16(b, o):
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8)


@njit(cache=True, _nrt=False)
def _le32(b, o):
    return _le16(b, o) | (_le16(b, o + 2) << 16)


@njit(cache=True, _nrt=False)
def _command(c):
    """enip.COMMANDS"""
    return c <= 1 or c == 4 or 0x63 <= c <= 0x66 or c == 0x6F or c == 0x70 or c == 0x72 or c == 0x73


@njit(cache=True, _nrt=False)
def _status(s):
    """enip.STATUSES"""
    return s <= 3 or s == 0x64 or s == 0x65 or s == 0x69


# -- EPATH and tag names -------------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _path(b, p, pe, pv, name):
    """cip.parse_path of b[p:pe] into ``pv`` and the tag name (symbolic segments joined by ".") into
    ``name``; False where parse_path raises."""
    pv[V_CLASS], pv[V_INSTANCE], pv[V_ATTRIBUTE] = NONE, NONE, NONE
    n, tags, pos = 0, 0, p
    while pos < pe:
        seg = np.int64(b[pos])
        kind = seg & 0xFC
        if (kind == 0x20 or kind == 0x24 or kind == 0x28 or kind == 0x2C or kind == 0x30) and seg & 3 < 3:
            size = seg & 3
            if size == 0:
                if pos + 1 >= pe:
                    return False
                value, pos = np.int64(b[pos + 1]), pos + 2
            elif size == 1:
                if pos + 4 > pe:
                    return False
                value, pos = _le16(b, pos + 2), pos + 4
            else:
                if pos + 6 > pe:
                    return False
                value, pos = _le32(b, pos + 2), pos + 6
            field = V_CLASS if kind == 0x20 else V_INSTANCE if kind == 0x24 else V_ATTRIBUTE if kind == 0x30 else -1
            if field >= 0 and pv[field] < 0:
                pv[field] = value
        elif seg == SYMBOLIC:
            if pos + 1 >= pe:
                return False
            length = np.int64(b[pos + 1])
            if tags:
                name[n] = 0x2E
                n += 1
            for j in range(pos + 2, min(pos + 2 + length, pe)):
                name[n] = b[j]
                n += 1
            tags += 1
            pos += 2 + length + (length & 1)
        elif seg & 0xE0 == 0:  # port segment
            if seg & 0x10:
                if pos + 1 >= pe:
                    return False
                length = np.int64(b[pos + 1])
                pos += 2 + length + (length & 1)
            else:
                pos += 2
        else:
            return False
    pv[V_TAG] = n
    return True


@njit(cache=True, _nrt=False)
def _hash(s, o, n, cnt):
    """SipHash-1-3 of s[o:o+n] under the secret in ``cnt``, 62 bits (a pending-table-style key:
    never -1). Keyed: a client cannot choose names that share one home and make lookups walk."""
    h = siphash.hash_bytes(np.uint64(cnt[C_K0]), np.uint64(cnt[C_K1]), s, o, n)
    return np.int64(h >> np.uint64(2))


@njit(cache=True, _nrt=False)
def _place(tag_keys, tag_vals, h, t):
    """Tag ``t`` under hash ``h`` in the first free slot (equal hashes may repeat)."""
    i, mask = _slot(tag_keys, h), len(tag_keys) - 1
    while tag_keys[i] != -1:
        i = (i + 1) & mask
    tag_keys[i], tag_vals[i] = h, t


@njit(cache=True, _nrt=False)
def _lookup(name, n, h, tag_keys, tag_vals, tag_at, arena):
    """(number of the tag name name[:n] filed under hash ``h``, else -1; the table slot it is in or
    would take)."""
    i, mask = _slot(tag_keys, h), len(tag_keys) - 1
    while tag_keys[i] != -1:
        if tag_keys[i] == h:
            t = tag_vals[i]
            at = tag_at[t, 0]
            same = tag_at[t, 1] == n
            for j in range(n if same else 0):
                if arena[at + j] != name[j]:
                    same = False
                    break
            if same:
                return t, i
        i = (i + 1) & mask
    return -1, i


@njit(cache=True, _nrt=False)
def _intern(name, n, tag_keys, tag_vals, tag_at, arena, cnt):
    """The number of the tag name name[:n], interned now if new (the caller made room)."""
    h = _hash(name, 0, n, cnt)
    t, i = _lookup(name, n, h, tag_keys, tag_vals, tag_at, arena)
    if t >= 0:
        return t
    t, at = cnt[C_TAGS], cnt[C_ARENA]
    for j in range(n):
        arena[at + j] = name[j]
    tag_at[t, 0], tag_at[t, 1] = at, n
    cnt[C_TAGS], cnt[C_ARENA] = t + 1, at + n
    tag_keys[i], tag_vals[i] = h, t
    return t


@njit(cache=True)
def reindex(tag_at, arena, cnt, tag_keys, tag_vals):
    """Place the tags interned (0…cnt[C_TAGS]-1) in a new (larger) hash table."""
    for t in range(cnt[C_TAGS]):
        _place(tag_keys, tag_vals, _hash(arena, tag_at[t, 0], tag_at[t, 1], cnt), t)


@njit(cache=True, _nrt=False)
def _new_tag(name, n, tag_keys, tag_vals, tag_at, arena, cnt, pv):
    """While checking: a request's tag name name[:n] (n > 0) counts in X_TAGS and X_BYTES when it is
    new and its event would be kept (only kept requests intern their tag)."""
    if cnt[C_EVENTS] < cnt[C_MAX_EVENTS] and _lookup(name, n, _hash(name, 0, n, cnt), tag_keys, tag_vals, tag_at,
                                                     arena)[0] < 0:
        pv[X_TAGS] += 1
        pv[X_BYTES] += n


# -- rows and pending requests -------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _row(ev, cnt, fid, ts, proto, name, pv, tag, command, session, seq):
    """A new event row, or -1 (counted) once the interval has C_MAX_EVENTS."""
    k = new_row(cnt)
    if k < 0:
        return k
    ev[k, E_FID], ev[k, E_TS], ev[k, E_PROTO], ev[k, E_NAME] = fid, ts, proto, name
    ev[k, E_CLASS], ev[k, E_INSTANCE], ev[k, E_ATTRIBUTE] = pv[V_CLASS], pv[V_INSTANCE], pv[V_ATTRIBUTE]
    ev[k, E_TAG], ev[k, E_COMMAND], ev[k, E_SESSION], ev[k, E_SEQ] = tag, command, session, seq
    ev[k, E_STATUS], ev[k, E_EXT], ev[k, E_RTT] = NONE, NONE, NONE
    return k


@njit(cache=True, _nrt=False)
def _count(flows, fid, column, key, step):
    """A key of the flow's enters (``step`` 1) or leaves (-1) a table: its slot's count in the
    columns from ``column`` (F_LIVE, F_LIVE_ASKED) follows, unless it is made under no slot."""
    if (key >> 40) & 7 != K_UNIT:
        flows[fid, column + ((key >> CTX_SHIFT) & 3)] += step


@njit(cache=True, _nrt=False)
def _ask(flows, fid, keys, vals, cnt, key, value):
    """``ask`` (the Modbus kernel's), the flow's count of keys under the slot kept."""
    before = flows[fid, F_PENDING]
    ask(flows, F_PENDING, keys, vals, cnt, fid, key, value)
    if flows[fid, F_PENDING] > before:
        _count(flows, fid, F_LIVE, key, 1)


@njit(cache=True, _nrt=False)
def _answer(flows, fid, keys, vals, cnt, ev, key, ts):
    """``answer`` (the Modbus kernel's), the flow's count of keys under the slot kept."""
    paired, k = answer(flows, F_PENDING, keys, vals, cnt, ev, fid, key, ts)
    if paired:
        _count(flows, fid, F_LIVE, key, -1)
    return paired, k


@njit(cache=True, _nrt=False)
def _pop(flows, fid, asked_keys, asked_vals, cnt, key):
    """The Identity attributes asked under ``key`` (forgotten now), else -1."""
    at = _find(asked_keys, key)
    if at < 0:
        return -1
    wanted = asked_vals[at]
    _remove(asked_keys, asked_vals, at)
    flows[fid, F_ASKED] -= 1
    cnt[C_ASKED] -= 1
    _count(flows, fid, F_LIVE_ASKED, key, -1)
    return wanted


@njit(cache=True, _nrt=False)
def _ask_identity(flows, fid, asked_keys, asked_vals, cnt, key, wanted):
    """session.vars["identity"][key] = wanted, at most MAX_PENDING per flow."""
    if flows[fid, F_ASKED] >= MAX_PENDING:
        return
    at = -1 - _find(asked_keys, key)
    asked_keys[at], asked_vals[at] = key, wanted
    flows[fid, F_ASKED] += 1
    cnt[C_ASKED] += 1
    _count(flows, fid, F_LIVE_ASKED, key, 1)


# -- CIP -----------------------------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _unconnected_send(b, o, n, pv, name):
    """cip._unconnected_send of the request data b[o:o+n]: False where the decoder finds it
    malformed; else into ``pv`` the embedded request's path, service, the offset and length of its
    data and its route (as the asked table holds it; -1 when it cannot)."""
    if n < 4:
        return False
    size = _le16(b, o + 2)
    pos = 4 + size + (size & 1)
    if 4 + size > n or size < 2 or pos >= n or min(pos + 2 + 2 * np.int64(b[o + pos]), n) - min(pos + 2, n) < 2:
        return False
    m = o + 4
    pe = min(m + 2 + 2 * np.int64(b[m + 1]), m + size)
    if not _path(b, m + 2, pe, pv, name):
        return False
    port, link = np.int64(b[o + pos + 2] & 0x0F), np.int64(b[o + pos + 3])
    pv[U_SERVICE], pv[U_DATA], pv[U_SIZE] = b[m] & 0x7F, pe, m + size - pe
    pv[U_ROUTE] = ROUTED | port << PORT_SHIFT | link << LINK_SHIFT if link <= MAX_LINK else -1
    return True


@njit(cache=True, _nrt=False)
def _identity_request(b, service, pv, o, n):
    """cip._identity_request: the Identity attributes a request (service, path ``pv``, data
    b[o:o+n]) asks for as the asked table holds them (0: none); -1 when its data is cut short
    (malformed), -2 when the kernel holds not so many."""
    if pv[V_CLASS] != IDENTITY or (pv[V_INSTANCE] != NONE and pv[V_INSTANCE] != 1):
        return 0
    if service == GET_ALL:
        return WANT_ALL
    if service == GET_SINGLE and pv[V_ATTRIBUTE] >= 0:
        return 1 << COUNT_SHIFT | pv[V_ATTRIBUTE] if pv[V_ATTRIBUTE] <= MAX_ID else -2
    if service != GET_LIST:
        return 0
    if n < 2 or 2 + 2 * _le16(b, o) > n:
        return -1
    count = _le16(b, o)
    if count > MAX_WANTED:
        return -2
    wanted = count << COUNT_SHIFT
    for i in range(count):
        attribute = _le16(b, o + 2 + 2 * i)
        if attribute > MAX_ID:
            return -2
        wanted |= attribute << (ID_BITS * i)
    return wanted


@njit(cache=True, _nrt=False)
def _message(b, m, mlen, is_req, key, nested, commit, fid, is_orig, ts, command, seq, flows, keys, vals, ev, jobs,
             cnt, asked_keys, asked_vals, tag_keys, tag_vals, tag_at, arena, pv, name):
    """One CIP message b[m:m+mlen] (mlen ≥ 1) as cip.events, its embedded services aside: (rows it
    may add, -1 when the kernel does not take it; offset and length of the Multiple Service Packet
    body whose services follow, length -1 when none). ``key``: its pending key (-1: none can be
    pending); ``commit``: decode it (else only check that the kernel takes it)."""
    service = np.int64(b[m] & 0x7F)
    if is_req:
        if mlen < 2:
            return -1, 0, -1
        pe = min(m + 2 + 2 * np.int64(b[m + 1]), m + mlen)
        if not _path(b, m + 2, pe, pv, name):
            return -1, 0, -1
        cls = pv[V_CLASS]
        if commit:
            k = _row(ev, cnt, fid, ts, P_CIP, service, pv, NONE, command, NONE, seq)
            if k >= 0 and pv[V_TAG]:
                ev[k, E_TAG] = _intern(name, pv[V_TAG], tag_keys, tag_vals, tag_at, arena, cnt)
            _ask(flows, fid, keys, vals, cnt, key, k if k >= 0 else DROPPED)
            if flows[fid, F_ASKED]:
                _pop(flows, fid, asked_keys, asked_vals, cnt, key)
        elif pv[V_TAG]:
            _new_tag(name, pv[V_TAG], tag_keys, tag_vals, tag_at, arena, cnt, pv)
        body, size, route = pe, m + mlen - pe, 0
        if service == UNCONNECTED_SEND and cls == CONNECTION_MANAGER:
            if not _unconnected_send(b, body, size, pv, name):
                if commit:  # counted; the request's event stands
                    cnt[C_ERRORS] += 1
                return 1, 0, -1
            if pv[U_SERVICE] == MSP:  # its services would be read as this message's
                return -1, 0, -1
            service, body, size, route = pv[U_SERVICE], pv[U_DATA], pv[U_SIZE], pv[U_ROUTE]
        wanted = _identity_request(b, service, pv, body, size)
        if wanted < -1:
            return -1, 0, -1
        if wanted == -1:  # counted; the request's event stands
            if commit:
                cnt[C_ERRORS] += 1
            return 1, 0, -1
        if wanted > 0 and route < 0:
            return -1, 0, -1
        if wanted > 0 and commit:
            _ask_identity(flows, fid, asked_keys, asked_vals, cnt, key, wanted | route)
        if service == MSP and b[m] & 0x80 == 0:
            return (-1, 0, -1) if nested else (1, pe, m + mlen - pe)
        return 1, 0, -1
    if mlen < 4:
        return -1, 0, -1
    status, extra = np.int64(b[m + 2]), np.int64(b[m + 3])
    if extra and mlen < 6:
        return -1, 0, -1
    body = min(m + 4 + 2 * extra, m + mlen)
    if commit:
        paired, k = _answer(flows, fid, keys, vals, cnt, ev, key, ts) if key >= 0 else (False, DROPPED)
        wanted = _pop(flows, fid, asked_keys, asked_vals, cnt, key) if key >= 0 and flows[fid, F_ASKED] else -1
        if wanted >= 0 and (status == 0 or status == 0x06) and (
                service == GET_ALL or service == GET_LIST or service == GET_SINGLE):
            j = cnt[C_JOBS]
            cnt[C_JOBS] = j + 1
            jobs[j, J_FID], jobs[j, J_TS], jobs[j, J_OFF], jobs[j, J_LEN] = fid, ts, body, m + mlen - body
            jobs[j, J_SERVICE], jobs[j, J_WANTED], jobs[j, J_ORIG] = service, wanted, is_orig
        if not paired:
            pv[V_CLASS], pv[V_INSTANCE], pv[V_ATTRIBUTE] = NONE, NONE, NONE
            k = _row(ev, cnt, fid, ts, P_CIP, service, pv, NONE, command, NONE, seq)
        if k >= 0:
            ev[k, E_STATUS] = status
            if extra:
                ev[k, E_EXT] = _le16(b, m + 4)
    if service == MSP and (status == 0 or status == 0x1E) and body < m + mlen:
        return (-1, 0, -1) if nested else (1, body, m + mlen - body)
    return 1, 0, -1


@njit(cache=True, _nrt=False)
def _parts(b, o, n):
    """How many services a Multiple Service Packet's body b[o:o+n] holds when each is non-empty
    (cip._embedded: count, offsets from the count, services) and the kernel takes so many, else -1."""
    if n < 2 or _le16(b, o) > MAX_PARTS or 2 + 2 * _le16(b, o) > n:
        return -1
    last = -1
    for i in range(_le16(b, o)):
        at = _le16(b, o + 2 + 2 * i)
        if at <= last or at >= n:
            return -1
        last = at
    return _le16(b, o)


@njit(cache=True, _nrt=False, inline="always")
def _cip(b, m, mlen, is_req, key, commit, fid, is_orig, ts, command, seq, flows, keys, vals, ev, jobs, cnt,
         asked_keys, asked_vals, tag_keys, tag_vals, tag_at, arena, pv, name):
    """A CIP message and, in a Multiple Service Packet, its services: rows, or -1."""
    rows, body, size, count, i = 0, 0, 0, 0, -1
    while i < count:  # the message (i = -1), then each service of its Multiple Service Packet
        o, n, k = m, mlen, key
        if i >= 0:
            o = body + _le16(b, body + 2 + 2 * i)
            n = (body + _le16(b, body + 4 + 2 * i) if i + 1 < count else body + size) - o
            k = key | ((i + 1) << 32) if key >= 0 else NONE
        r, msp, msp_size = _message(b, o, n, is_req, k, i >= 0, commit, fid, is_orig, ts, command, seq, flows, keys,
                                    vals, ev, jobs, cnt, asked_keys, asked_vals, tag_keys, tag_vals, tag_at, arena, pv,
                                    name)
        if r < 0:
            return -1
        rows += r
        if i < 0 and msp_size >= 0:
            body, size, count = msp, msp_size, _parts(b, msp, msp_size)
            if count < 0:
                return -1
        i += 1
    return rows


# -- encapsulation -------------------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _context(flows, fid, hi, is_req, commit, pv):
    """The flow's slot of a message's sender context high bits ``hi`` (-1: none). A request with new
    high bits takes a slot no key of the flow's is made under and no request of the segment used;
    while checking it (``commit`` False; -1: the kernel does not take it) ``pv`` notes the one new
    value a segment may bring (X_NEW_HI, X_NEW_SLOT) and the slots used (X_USED)."""
    slot = -1
    for j in range(CTX_SLOTS):
        if flows[fid, F_CTX + j] == hi:
            slot = j
    if commit:
        if slot < 0 and is_req:
            slot = pv[X_NEW_SLOT]
            flows[fid, F_CTX + slot] = hi
        return slot
    if slot < 0 and hi == pv[X_NEW_HI]:
        slot = pv[X_NEW_SLOT]
    if not is_req:
        return max(slot, 0)  # (an answer is taken; it pairs only under a slot)
    if slot < 0:
        if pv[X_NEW_HI] >= 0:
            return -1
        for j in range(CTX_SLOTS):
            if not pv[X_USED] >> j & 1 and (flows[fid, F_CTX + j] < 0 or not (
                    flows[fid, F_LIVE + j] or flows[fid, F_LIVE_ASKED + j])):
                slot = j
                break
        if slot < 0:
            return -1
        pv[X_NEW_HI], pv[X_NEW_SLOT] = hi, slot
    pv[X_USED] |= 1 << slot
    return slot


@njit(cache=True, _nrt=False, inline="always")
def _encapsulation(b, o, size, commit, fid, is_orig, ts, flows, keys, vals, ev, jobs, cnt, asked_keys, asked_vals,
                   tag_keys, tag_vals, tag_at, arena, pv, name):
    """One whole encapsulation message b[o:o+size] as enip.decode: rows it may add, -1 when the
    kernel does not take it (``commit``: decode it, else only check)."""
    command, length = _le16(b, o), size - 24
    handle, status, low, hi = _le32(b, o + 4), _le32(b, o + 8), _le32(b, o + 12), _le32(b, o + 16)
    if not _status(status) or _le32(b, o + 20) != 0:
        return -1
    if commit:
        flows[fid, F_SERVICES] |= SVC_ENIP
    key = NONE
    if (command == SEND_RR_DATA or command == SEND_UNIT_DATA) and length:
        data, end = o + 24, o + size
        if length < 8:
            return -1
        count, pos, item, item_len, item_kind = _le16(b, data + 6), data + 8, -1, 0, 0
        for _ in range(count):
            if pos + 4 > end or pos + 4 + _le16(b, pos + 2) > end:
                return -1
            kind, n = _le16(b, pos), _le16(b, pos + 2)
            if item < 0 and (kind == ITEM_UNCONNECTED or kind == ITEM_CONNECTED):
                item, item_len, item_kind = pos + 4, n, kind
            pos += 4 + n
        if pos != end:
            return -1
        if item < 0:
            return 0
        seq = NONE
        if item_kind == ITEM_CONNECTED:
            if item_len < 3:
                return -1
            seq = _le16(b, item)
            key = (fid << FID_SHIFT) | (K_UNIT << 40) | seq
            item, item_len = item + 2, item_len - 2
        elif item_len < 1:
            return -1
        is_req = b[item] & 0x80 == 0
        if item_kind == ITEM_UNCONNECTED:
            slot = _context(flows, fid, hi, is_req, commit, pv)
            if slot < 0 and not commit:
                return -1
            key = (fid << FID_SHIFT) | (slot << CTX_SHIFT) | (K_RR << 40) | low if slot >= 0 else NONE
        return _cip(b, item, item_len, is_req, key, commit, fid, is_orig, ts, command, seq, flows, keys, vals, ev,
                    jobs, cnt, asked_keys, asked_vals, tag_keys, tag_vals, tag_at, arena, pv, name)
    if command == LIST_IDENTITY and length:
        return -1
    slot = _context(flows, fid, hi, is_orig, commit, pv)
    if slot < 0 and not commit:
        return -1
    if commit:
        key = (fid << FID_SHIFT) | (slot << CTX_SHIFT) | (K_ENIP << 40) | (command << 32) | low
        pv[V_CLASS], pv[V_INSTANCE], pv[V_ATTRIBUTE] = NONE, NONE, NONE
        if is_orig:
            k = _row(ev, cnt, fid, ts, P_ENIP, command, pv, NONE, NONE, handle, NONE)
            _ask(flows, fid, keys, vals, cnt, key, k if k >= 0 else DROPPED)
            return 1
        paired, k = _answer(flows, fid, keys, vals, cnt, ev, key, ts) if slot >= 0 else (False, DROPPED)
        if not paired:
            k = _row(ev, cnt, fid, ts, P_ENIP, command, pv, NONE, NONE, handle, NONE)
        if k >= 0:
            ev[k, E_STATUS] = status
    return 1


@njit(cache=True, _nrt=False)
def _messages(b, lo, ln, commit, f, is_orig, ts, flows, keys, vals, ev, jobs, cnt, asked_keys, asked_vals, tag_keys,
              tag_vals, tag_at, arena, pv, name):
    """The encapsulation messages of the segment b[lo:lo+ln]: checked (``commit`` False: the rows
    they may add, -1 unless they are whole messages the kernel takes), then decoded."""
    pos, rows = lo, 0
    if not commit:
        pv[X_NEW_HI], pv[X_NEW_SLOT], pv[X_USED], pv[X_TAGS], pv[X_BYTES] = -1, -1, 0, 0, 0
    while pos < lo + ln:
        if lo + ln - pos < 24 or not _command(_le16(b, pos)) or pos + 24 + _le16(b, pos + 2) > lo + ln:
            return -1
        size = 24 + _le16(b, pos + 2)
        r = _encapsulation(b, pos, size, commit, f, is_orig, ts, flows, keys, vals, ev, jobs, cnt, asked_keys,
                           asked_vals, tag_keys, tag_vals, tag_at, arena, pv, name)
        if r < 0:
            return -1
        if commit and not is_orig and not flows[f, F_SERVED]:
            flows[f, F_SERVED], flows[f, F_SERVED_AT] = SVC_ENIP, ts
        rows += r
        pos += size
    return rows


@njit(cache=True, _nrt=False)
def _room(rows, tags, nbytes, keys, ev, jobs, cnt, asked_keys, tag_keys, tag_at, arena):
    """Whether the tables hold ``rows`` more rows (requests, Identity requests) and ``tags`` more
    tags of ``nbytes`` bytes in all."""
    return (room(rows, keys, ev, jobs, cnt) and 2 * (cnt[C_ASKED] + rows) <= len(asked_keys)
            and cnt[C_TAGS] + tags <= len(tag_at) and 2 * (cnt[C_TAGS] + tags) <= len(tag_keys)
            and cnt[C_ARENA] + nbytes <= len(arena))


@njit(cache=True)
def scan(b, fid, is_orig, ts, off, length, end, seq, start, flows, keys, vals, ev, jobs, cnt, asked_keys, asked_vals,
         tag_keys, tag_vals, tag_at, arena):
    """Packets start… of EtherNet/IP flows (fid per packet) → events; returns (DONE, len) or
    (MOVE | GROW, index of the packet Python must take over at, or make room for, first). Packets
    of flows already moved to Python are skipped, and so are pure retransmissions; a segment whose
    new tags would pass the caps moves its flow."""
    pv = np.empty(X_BYTES + 1, np.int64)
    name = np.empty(PATH_MAX, np.uint8)
    for i in range(start, len(fid)):
        f, d, lo, ln, t = fid[i], 0 if is_orig[i] else 1, off[i], length[i], ts[i]
        kind = tcp.SKIP if flows[f, F_MOVED] else tcp.segment(flows[f, F_SEQ + d], seq[i], lo, ln, end[i])
        if kind == tcp.ASIDE or f >= 1 << (63 - FID_SHIFT):
            return MOVE, i
        for commit in range(2 if kind == tcp.TAKE else 0):  # check the whole segment, then decode it
            rows = _messages(b, lo, ln, commit == 1, f, is_orig[i], t, flows, keys, vals, ev, jobs, cnt, asked_keys,
                             asked_vals, tag_keys, tag_vals, tag_at, arena, pv, name)
            if rows < 0 or not commit and (cnt[C_TAGS] + pv[X_TAGS] > cnt[C_MAX_TAGS]
                                           or cnt[C_ARENA] + pv[X_BYTES] > cnt[C_MAX_ARENA]):
                return MOVE, i
            if not commit and not _room(rows, pv[X_TAGS], pv[X_BYTES], keys, ev, jobs, cnt, asked_keys, tag_keys,
                                        tag_at, arena):
                return GROW, i
        if kind == tcp.TAKE:
            flows[f, F_SEQ + d] = (seq[i] + ln) & tcp.SEQ_MASK
    return DONE, len(fid)
