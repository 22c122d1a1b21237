"""Bidirectional flow table with Zeek ``conn.log`` semantics and NetFlow-style interval records.

Packets arrive as column arrays (``sensor.decode.packet.Packets``), in capture order, one batch
interval at a time. Per call the work is vectorised: a numba loop hashes every packet's
canonical (direction-free) key, numpy sorts packets by key (stable, so time order is kept
inside a flow) and a second numba loop walks each flow's packets through Zeek's TCP endpoint
state machine, history letters and connection timers. Python runs once per flow and interval
to find the flow's slot and to format records.

Flow state lives in numpy arrays indexed by slot (``_State``); side 0/1 is the canonical
lower/higher endpoint, ``orig_side`` says which one Zeek calls the originator.

Timers follow Zeek exactly for offline replay: a timer due at time x fires at the first
network time (running maximum of packet timestamps) >= x, before that packet is processed.
That is what splits S0 attempts after 5 s, removes closed TCP connections 5 s after their
last activity and expires idle flows (TCP 5 min, UDP/ICMP/other 1 min).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import NamedTuple

import communityid
import numpy as np
from numba import njit

from sensor.decode import packet as pk

SEC = 1_000_000  # timestamps are int64 µs
TCP_TIMEOUT, UDP_TIMEOUT, ICMP_TIMEOUT, OTHER_TIMEOUT = 300 * SEC, 60 * SEC, 60 * SEC, 60 * SEC
TCP_SYN_TIMEOUT = 5 * SEC  # first ExpireTimer check
TCP_SESSION_TIMER = 6 * SEC  # ExpireTimer period
TCP_LINGER = 5 * SEC  # tcp_connection_linger
TCP_ATTEMPT_DELAY = 5 * SEC
TCP_CLOSE_DELAY = 5 * SEC
TOO_LARGE_SEQ_DELTA = 1048576
HMAX = 40  # history letters kept per flow

# TCP endpoint states (Zeek's TCP_ENDPOINT_*)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
# history masks (Zeek's TCP_Endpoint HIST_*; responder bits are shifted by 16)
H_SYN, H_FIN, H_RST, H_FIN_RST, H_DATA, H_ACK, H_MULTI = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
# scaled history counters (index into the cnt/thr arrays): retransmission, zero window
SC_RXMIT, SC_WIN0 = 0, 1
KIND_FREE, KIND_IP, KIND_L2 = 0, 1, 2

# Zeek's likely_server_ports as its default scripts build it (each base/protocols script adds
# its ports); used only for Zeek's originator heuristics when a flow starts mid-stream.
TCP_SERVER_PORTS = frozenset(
    [21, 22, 25, 53, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631, 636,
     989, 990, 992, 993, 995, 1080, 1434, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 6666, 6667,
     6668, 6669, 8000, 8080, 8888, 20000]
)
UDP_SERVER_PORTS = frozenset(
    [53, 67, 88, 123, 137, 161, 162, 443, 514, 1812, 2123, 2152, 3544, 4789, 5060, 5072, 5353, 5355,
     6081, 20000]
)


class _State(NamedTuple):
    """Per-slot flow state; 2-column arrays are per canonical side."""

    kind: np.ndarray  # uint8 KIND_*
    ended: np.ndarray  # uint8: closed, waiting to be reported
    iv_seen: np.ndarray  # uint8: had packets in the current interval
    key: np.ndarray  # uint64
    proto: np.ndarray  # uint8
    ethertype: np.ndarray  # uint16
    vlan: np.ndarray  # uint16
    ipver: np.ndarray  # uint8
    addr_hi: np.ndarray  # uint64 [C,2]
    addr_lo: np.ndarray  # uint64 [C,2] (MAC for L2 flows)
    port: np.ndarray  # uint16 [C,2]
    mac: np.ndarray  # uint64 [C,2]
    orig_side: np.ndarray  # uint8
    start: np.ndarray  # int64 first packet
    last: np.ndarray  # int64 Zeek's last_time (drives timers)
    seen: np.ndarray  # int64 last packet
    pkts: np.ndarray  # uint64 [C,2]
    ipb: np.ndarray  # uint64 [C,2]
    size: np.ndarray  # int64 [C,2]: payload bytes of non-TCP flows, -1 before the first packet
    em_pkts: np.ndarray  # uint64 [C,2]: already reported in earlier interval records
    em_ipb: np.ndarray
    em_bytes: np.ndarray  # int64 [C,2]
    hist: np.ndarray  # uint8 [C,HMAX]
    hist_len: np.ndarray  # uint8
    hist_seen: np.ndarray  # uint32
    active: np.ndarray  # uint8: Zeek's TCPSessionAdapter::is_active
    timeout: np.ndarray  # int64 inactivity timeout
    t_inact: np.ndarray  # int64 due times, 0 = not scheduled
    t_expire: np.ndarray
    t_attempt: np.ndarray
    t_delete: np.ndarray
    tstate: np.ndarray  # uint8 [C,2] TCP endpoint state
    tprev: np.ndarray  # uint8 [C,2]
    did_close: np.ndarray  # uint8 [C,2]
    start_seq: np.ndarray  # int64 [C,2] (32-bit value)
    rel_last: np.ndarray  # int64 [C,2]: last seq, relative to start_seq, unwrapped
    rel_ack: np.ndarray  # int64 [C,2]: highest ack received, relative to start_seq
    fin_cnt: np.ndarray  # int64 [C,2]
    h_syn: np.ndarray  # int64 [C,2]: relative seq of the last SYN/FIN/RST (history repeats)
    h_fin: np.ndarray
    h_rst: np.ndarray
    cnt: np.ndarray  # int64 [C,2,2]: scaled history counters
    thr: np.ndarray  # int64 [C,2,2]: next threshold for them


_SHAPE2 = {"addr_hi", "addr_lo", "port", "mac", "pkts", "ipb", "size", "em_pkts", "em_ipb", "em_bytes",
           "tstate", "tprev", "did_close", "start_seq", "rel_last", "rel_ack", "fin_cnt", "h_syn", "h_fin",
           "h_rst"}
_DT = {"kind": np.uint8, "ended": np.uint8, "iv_seen": np.uint8, "key": np.uint64, "proto": np.uint8,
       "ethertype": np.uint16, "vlan": np.uint16, "ipver": np.uint8, "addr_hi": np.uint64, "addr_lo": np.uint64,
       "port": np.uint16, "mac": np.uint64, "orig_side": np.uint8, "pkts": np.uint64, "ipb": np.uint64,
       "em_pkts": np.uint64, "em_ipb": np.uint64, "hist": np.uint8, "hist_len": np.uint8,
       "hist_seen": np.uint32, "active": np.uint8, "tstate": np.uint8, "tprev": np.uint8, "did_close": np.uint8}


def _alloc_state(cap: int) -> _State:
    def arr(name):
        shape = (cap,)
        if name in _SHAPE2:
            shape = (cap, 2)
        elif name == "hist":
            shape = (cap, HMAX)
        elif name in ("cnt", "thr"):
            shape = (cap, 2, 2)
        return np.zeros(shape, _DT.get(name, np.int64))

    return _State(*(arr(name) for name in _State._fields))


def _grow_state(st: _State, cap: int) -> _State:
    new = _alloc_state(cap)
    for old, fresh in zip(st, new):
        fresh[: len(old)] = old
    return new


# ---------------------------------------------------------------- keys


@njit(cache=True, inline="always")
def _mix(h, v):
    h ^= v
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True)
def _keys(p, key, side):
    """Canonical flow key hash per packet and the sender's side (0 = lower endpoint)."""
    for i in range(len(p.ts)):
        st = p.status[i]
        if st == pk.MALFORMED:
            continue
        h = np.uint64(st + 1)
        h = _mix(h, np.uint64(p.vlan[i]))
        if st == pk.OK:
            a = (p.src_hi[i], p.src_lo[i], p.sport[i])
            b = (p.dst_hi[i], p.dst_lo[i], p.dport[i])
            h = _mix(h, (np.uint64(p.proto[i]) << np.uint64(8)) | np.uint64(p.ipver[i]))
        else:
            a = (np.uint64(0), p.src_mac[i], np.uint16(0))
            b = (np.uint64(0), p.dst_mac[i], np.uint16(0))
            h = _mix(h, np.uint64(p.ethertype[i]))
        s = 1 if b < a else 0
        lo, hi = (b, a) if s else (a, b)
        h = _mix(h, lo[0])
        h = _mix(h, lo[1])
        h = _mix(h, (np.uint64(lo[2]) << np.uint64(16)) | np.uint64(hi[2]))
        h = _mix(h, hi[0])
        h = _mix(h, hi[1])
        key[i] = h
        side[i] = s


# ---------------------------------------------------------------- history


@njit(cache=True, inline="always")
def _add_hist(st, s, ch):
    n = st.hist_len[s]
    if n < HMAX:
        st.hist[s, n] = ch
        st.hist_len[s] = n + 1


@njit(cache=True, inline="always")
def _lower(ch, is_orig):
    return ch if is_orig else ch + 32


@njit(cache=True)
def _check_hist(st, s, mask, ch, is_orig):
    """Zeek's TCP_Endpoint::CheckHistory: record the letter once; True if seen before."""
    if not is_orig:
        mask <<= 16
    if st.hist_seen[s] & mask:
        return True
    st.hist_seen[s] |= mask
    _add_hist(st, s, _lower(ch, is_orig))
    return False


@njit(cache=True)
def _scaled_hist(st, s, side, which, ch, is_orig):
    """Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th … occurrence."""
    st.cnt[s, side, which] += 1
    if st.cnt[s, side, which] == st.thr[s, side, which]:
        _add_hist(st, s, _lower(ch, is_orig))
        st.thr[s, side, which] *= 10


# ---------------------------------------------------------------- TCP (Zeek's TCPSessionAdapter)


@njit(cache=True, inline="always")
def _sdelta(a, b):
    """Signed 32-bit difference a - b of sequence numbers."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


@njit(cache=True, inline="always")
def _handshake(state):
    return state == INACTIVE or state == SYN_SENT or state == SYN_ACK_SENT


@njit(cache=True)
def _set_state(st, s, e, new):
    """TCP_Endpoint::SetState: finishing the handshake raises the inactivity timeout."""
    old = st.tstate[s, e]
    if old != new:
        if not _handshake(new) and _handshake(old) and _handshake(st.tstate[s, 1 - e]):
            st.timeout[s] = TCP_TIMEOUT
            st.t_inact[s] = st.last[s] + TCP_TIMEOUT
        st.tprev[s, e] = old
        st.tstate[s, e] = new


@njit(cache=True, inline="always")
def _init_seq(st, s, e, start, rel_last):
    st.start_seq[s, e] = start & 0xFFFFFFFF
    st.rel_ack[s, e] = 0
    st.rel_last[s, e] = rel_last


@njit(cache=True)
def _init_endpoint(st, s, e, syn, seq, seg):
    state = st.tstate[s, e]
    if state == INACTIVE:
        if syn:
            _init_seq(st, s, e, seq, seg)
        else:  # partial connection: number as if a SYN had been seen
            _init_seq(st, s, e, seq - 1, 1)
    elif syn and (
        ((state == SYN_SENT or state == SYN_ACK_SENT) and seq != st.start_seq[s, e])
        or state == ESTABLISHED
        or state == PARTIAL
        or (state == RESET and st.tprev[s, e] == INACTIVE)
    ):
        _init_seq(st, s, e, seq, seg)


@njit(cache=True)
def _update_history(st, s, e, is_orig, syn, fin, rst, ack, rel_seq, ln):
    bits = syn + fin + rst
    if bits > 1:
        if fin and rst:
            _check_hist(st, s, H_FIN_RST, ord("I"), is_orig)
        else:
            _check_hist(st, s, H_MULTI, ord("Q"), is_orig)
    elif bits == 1:
        if syn:
            code = ord("H") if ack else ord("S")
            if _check_hist(st, s, H_SYN, code, is_orig) and rel_seq != st.h_syn[s, e]:
                _add_hist(st, s, _lower(code, is_orig))
            st.h_syn[s, e] = rel_seq
        if fin:
            if _check_hist(st, s, H_FIN, ord("F"), is_orig) and rel_seq + ln != st.h_fin[s, e]:
                _add_hist(st, s, _lower(ord("F"), is_orig))
            st.h_fin[s, e] = rel_seq + ln
        if rst:
            if _check_hist(st, s, H_RST, ord("R"), is_orig) and rel_seq != st.h_rst[s, e]:
                _add_hist(st, s, _lower(ord("R"), is_orig))
            st.h_rst[s, e] = rel_seq
    elif ln:
        _check_hist(st, s, H_DATA, ord("D"), is_orig)
    elif ack:
        _check_hist(st, s, H_ACK, ord("A"), is_orig)


@njit(cache=True)
def _update_last_seq(st, s, e, last_seq, syn, fin, rst, ln, is_orig):
    last_abs = (st.start_seq[s, e] + st.rel_last[s, e]) & 0xFFFFFFFF
    d = _sdelta(last_seq, last_abs)
    if (syn or rst) and (d > TOO_LARGE_SEQ_DELTA or d < -TOO_LARGE_SEQ_DELTA):
        pass
    elif fin and st.rel_last[s, e] == 1:
        st.rel_last[s, e] += d
    elif st.tstate[s, e] == RESET:
        pass
    elif d > 0:
        st.rel_last[s, e] += d
    elif ln > 0:
        _scaled_hist(st, s, e, SC_RXMIT, ord("T"), is_orig)
    return d


@njit(cache=True)
def _flip(st, s):
    st.orig_side[s] = 1 - st.orig_side[s]
    _add_hist(st, s, ord("^"))


@njit(cache=True)
def _connection_closed(st, s, e, gen_event):
    """Zeek's ConnectionClosed (without reassembly's deferred close)."""
    p = 1 - e
    if st.did_close[s, e]:
        return
    st.did_close[s, e] = 1
    if st.tstate[s, e] == RESET or st.did_close[s, p] or st.tstate[s, p] == INACTIVE:
        if gen_event and (st.tprev[s, e] != INACTIVE or st.tstate[s, p] != INACTIVE):
            st.active[s] = 0  # ConnectionFinished
        st.t_expire[s] = 0  # CancelTimers
        st.t_attempt[s] = 0
        st.t_delete[s] = st.last[s] + TCP_CLOSE_DELAY
    elif st.tprev[s, e] != INACTIVE:
        due = st.last[s] + TCP_SESSION_TIMER
        if st.t_expire[s] == 0 or due < st.t_expire[s]:
            st.t_expire[s] = due


@njit(cache=True)
def _state_machine(st, s, e, is_orig, t, seq, syn, fin, rst, ack, ln, d_last):
    """Zeek's UpdateStateMachine; returns (do_close, gen_event)."""
    p = 1 - e
    do_close = False
    gen_event = False
    state = st.tstate[s, e]
    if state == INACTIVE:
        if syn:
            if is_orig:
                _set_state(st, s, e, SYN_ACK_SENT if ack else SYN_SENT)
                st.t_attempt[s] = t + TCP_ATTEMPT_DELAY
            else:
                if not ack and st.tstate[s, p] == SYN_ACK_SENT and seq == st.start_seq[s, e]:
                    _flip(st, s)  # SYN and SYN-ACK seen in reverse order
                    _set_state(st, s, p, ESTABLISHED)
                if st.tstate[s, p] == SYN_SENT:
                    _set_state(st, s, p, ESTABLISHED)
                _set_state(st, s, e, ESTABLISHED)
        if fin:
            _set_state(st, s, e, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(st, s, e, RESET)
            pst = st.tstate[s, p]
            if is_orig:
                reject = pst == ESTABLISHED
            else:
                reject = pst == SYN_SENT or pst == SYN_ACK_SENT
            do_close = True
            gen_event = not reject
        if st.tstate[s, e] == INACTIVE:
            orig_state = st.tstate[s, st.orig_side[s]]
            if not is_orig and ln == 0 and orig_state == SYN_SENT:
                pass
            elif ack and st.tstate[s, p] == ESTABLISHED:
                _set_state(st, s, e, ESTABLISHED)
            else:
                _set_state(st, s, e, PARTIAL)
    elif state == SYN_SENT or state == SYN_ACK_SENT:
        if fin:
            _set_state(st, s, e, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(st, s, e, RESET)
            st.active[s] = 0
            do_close = True
    elif state == ESTABLISHED or state == PARTIAL:
        if syn and state == PARTIAL and st.tstate[s, p] == INACTIVE and not ack:
            _set_state(st, s, e, SYN_SENT)
        if fin and not rst:
            _set_state(st, s, e, CLOSED)
            if st.tstate[s, p] == RESET and st.tprev[s, p] == CLOSED:
                _set_state(st, s, p, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(st, s, e, RESET)
            do_close = True
            if st.tstate[s, p] != RESET or st.tprev[s, p] != ESTABLISHED:
                st.active[s] = 0
    elif state == CLOSED:
        if rst and st.tstate[s, p] != CLOSED:
            _set_state(st, s, e, RESET)
            if not st.did_close[s, e]:
                do_close = True
    return do_close, gen_event


@njit(cache=True)
def _tcp_packet(st, s, e, p, j, t):
    """Zeek's TCPSessionAdapter::Process for packet j from side e of flow s."""
    is_orig = e == st.orig_side[s]
    q = 1 - e
    flags = p.tcp_flags[j]
    syn, fin, rst, ack = (flags >> 1) & 1, flags & 1, (flags >> 2) & 1, (flags >> 4) & 1
    seq = np.int64(p.seq[j])
    ackn = np.int64(p.ack[j])
    ln = np.int64(p.pay_len[j])
    seg = ln + syn + fin - (ln if rst else 0)
    _init_endpoint(st, s, e, syn, seq, seg)
    last_abs = (st.start_seq[s, e] + st.rel_last[s, e]) & 0xFFFFFFFF
    rel_seq = st.rel_last[s, e] + _sdelta(seq, last_abs)
    _update_history(st, s, e, is_orig, syn, fin, rst, ack, rel_seq, ln)
    if p.win[j] == 0 and not rst and st.tstate[s, q] != CLOSED and st.tstate[s, e] != RESET:
        _scaled_hist(st, s, e, SC_WIN0, ord("W"), is_orig)
    if not (st.did_close[s, 0] and st.did_close[s, 1]):
        st.last[s] = t
    if fin:
        st.fin_cnt[s, e] += 1
    if ack:
        if st.tstate[s, q] == INACTIVE:  # init_peer
            _init_seq(st, s, q, ackn - 1, 0)
        else:
            ack_abs = (st.start_seq[s, q] + st.rel_ack[s, q]) & 0xFFFFFFFF
            d = _sdelta(ackn, ack_abs)
            if st.rel_ack[s, q] + d >= 0 and not rst and not (ackn == 0 and d > TOO_LARGE_SEQ_DELTA) and d > 0:
                st.rel_ack[s, q] += d
    d_last = _update_last_seq(st, s, e, (seq + seg) & 0xFFFFFFFF, syn, fin, rst, ln, is_orig)
    do_close, gen_event = _state_machine(st, s, e, is_orig, t, seq, syn, fin, rst, ack, ln, d_last)
    if do_close:
        _connection_closed(st, s, e, gen_event)


@njit(cache=True)
def _is_reuse(st, s, e, p, j):
    """Zeek's TCPSessionAdapter::IsReuse: does this SYN start a new connection?"""
    flags = p.tcp_flags[j]
    if not (flags & 2):
        return False
    o = st.orig_side[s]
    r = 1 - o
    conn_orig = o
    if flags & 16:
        if st.tstate[s, o] != INACTIVE:
            return False
        conn_orig = r
    if st.did_close[s, 0] or st.did_close[s, 1]:
        return True
    seq = np.int64(p.seq[j])
    if seq == st.start_seq[s, conn_orig]:
        return False
    if (
        not (flags & 16)
        and st.tstate[s, conn_orig] == SYN_ACK_SENT
        and st.tstate[s, r] == INACTIVE
        and seq == st.start_seq[s, r]
    ):
        return False
    return True


# ---------------------------------------------------------------- timers and flow lifecycle


@njit(cache=True)
def _fire_timers(st, s, now, nt):
    """Run the flow's timers due at or before network time ``now``; True if the flow ended.
    A timer due at x is dispatched at the first network time >= x (``nt`` is sorted)."""
    tcp = st.kind[s] == KIND_IP and st.proto[s] == pk.TCP
    while True:
        due = st.t_inact[s]
        which = 0
        if tcp:
            for w, x in ((1, st.t_expire[s]), (2, st.t_attempt[s]), (3, st.t_delete[s])):
                if x != 0 and (due == 0 or x < due):
                    due, which = x, w
        if due == 0 or due > now:
            return False
        k = np.searchsorted(nt, due)
        t = nt[k] if k < len(nt) else now
        o = st.orig_side[s]
        r = 1 - o
        if which == 0:  # Connection::InactivityTimer
            if st.last[s] + st.timeout[s] <= t:
                return True
            st.t_inact[s] = st.last[s] + st.timeout[s]
        elif which == 1:  # TCPSessionAdapter::ExpireTimer
            st.t_expire[s] = 0
            if not st.active[s]:
                continue
            if st.last[s] + TCP_LINGER < t:
                so, sr = st.tstate[s, o], st.tstate[s, r]
                if st.did_close[s, o] or st.did_close[s, r]:
                    if (
                        (st.did_close[s, o] and st.did_close[s, r])
                        or so == RESET or sr == RESET or so == INACTIVE or sr == INACTIVE
                    ):
                        return True
                if so == INACTIVE and sr == INACTIVE:
                    return True
            st.t_expire[s] = t + TCP_SESSION_TIMER
        elif which == 2:  # AttemptTimer
            st.t_attempt[s] = 0
            so = st.tstate[s, o]
            if st.active[s] and (so == SYN_SENT or so == SYN_ACK_SENT) and st.tstate[s, r] == INACTIVE:
                return True
        else:  # ConnDeleteTimer
            return True


@njit(cache=True)
def _initial_timeout(st, s):
    """TCP starts with the UDP timeout until its handshake completes, as in Zeek."""
    if st.kind[s] != KIND_IP:
        return OTHER_TIMEOUT
    pr = st.proto[s]
    if pr == pk.ICMP or pr == pk.ICMP6:
        return ICMP_TIMEOUT
    if pr == pk.TCP or pr == pk.UDP:
        return UDP_TIMEOUT
    return OTHER_TIMEOUT


@njit(cache=True)
def _start_flow(st, s, key, e, p, j, tcp_server, udp_server):
    """Initialise slot s as a new flow whose first packet j was sent by side e."""
    t = p.ts[j]
    ip = p.status[j] == pk.OK
    st.kind[s] = KIND_IP if ip else KIND_L2
    st.ended[s] = 0
    st.iv_seen[s] = 0
    st.key[s] = key
    st.proto[s] = p.proto[j] if ip else 0
    st.ethertype[s] = p.ethertype[j]
    st.vlan[s] = p.vlan[j]
    st.ipver[s] = p.ipver[j] if ip else 0
    a, b = e, 1 - e  # a = the sender's side
    if ip:
        st.addr_hi[s, a], st.addr_lo[s, a], st.port[s, a] = p.src_hi[j], p.src_lo[j], p.sport[j]
        st.addr_hi[s, b], st.addr_lo[s, b], st.port[s, b] = p.dst_hi[j], p.dst_lo[j], p.dport[j]
    else:
        st.addr_hi[s, a], st.addr_lo[s, a], st.port[s, a] = 0, p.src_mac[j], 0
        st.addr_hi[s, b], st.addr_lo[s, b], st.port[s, b] = 0, p.dst_mac[j], 0
    st.mac[s, a] = p.src_mac[j]
    st.mac[s, b] = p.dst_mac[j]
    st.orig_side[s] = e
    st.start[s] = st.last[s] = st.seen[s] = t
    st.hist_len[s] = 0
    st.hist_seen[s] = 0
    st.active[s] = 1
    st.t_expire[s] = st.t_attempt[s] = st.t_delete[s] = 0
    for x in range(2):
        st.pkts[s, x] = st.ipb[s, x] = st.em_pkts[s, x] = st.em_ipb[s, x] = 0
        st.size[s, x] = -1
        st.em_bytes[s, x] = 0
        st.tstate[s, x] = st.tprev[s, x] = st.did_close[s, x] = 0
        st.start_seq[s, x] = st.rel_last[s, x] = st.rel_ack[s, x] = st.fin_cnt[s, x] = 0
        st.h_syn[s, x] = st.h_fin[s, x] = st.h_rst[s, x] = 0
        for w in range(2):
            st.cnt[s, x, w] = 0
            st.thr[s, x, w] = 1
    st.timeout[s] = _initial_timeout(st, s)
    st.t_inact[s] = t + st.timeout[s]
    if ip:
        sp, dp = p.sport[j], p.dport[j]
        if st.proto[s] == pk.TCP:
            st.t_expire[s] = t + TCP_SYN_TIMEOUT
            flags = p.tcp_flags[j]
            pure_syn = (flags & 2) and not (flags & 16)
            if not pure_syn and tcp_server[sp] and (not tcp_server[dp] or (not (flags & 2) and sp < dp)):
                _flip(st, s)
        elif st.proto[s] == pk.UDP and udp_server[sp] and not udp_server[dp]:
            _flip(st, s)


@njit(cache=True)
def _packet(st, s, e, p, j):
    """Count packet j into flow s and run its protocol's per-packet logic."""
    t = p.ts[j]
    st.pkts[s, e] += 1
    st.iv_seen[s] = 1
    if t > st.seen[s]:
        st.seen[s] = t
    if st.kind[s] == KIND_L2:
        st.ipb[s, e] += p.wirelen[j]
        st.last[s] = t
        st.size[s, e] = max(st.size[s, e], 0) + p.pay_len[j]
        return
    st.ipb[s, e] += p.ip_len[j]
    if st.proto[s] == pk.TCP and p.frag[j] != pk.FRAG_LATER:
        _tcp_packet(st, s, e, p, j, t)
        return
    st.last[s] = t
    st.size[s, e] = max(st.size[s, e], 0) + p.pay_len[j]
    if st.proto[s] == pk.UDP:
        is_orig = e == st.orig_side[s]
        mask = 1 if is_orig else 2  # UDP uses connection-level masks and explicit letters
        if not (st.hist_seen[s] & mask):
            st.hist_seen[s] |= mask
            _add_hist(st, s, ord("D") if is_orig else ord("d"))


@njit(cache=True)
def _advance(st, p, key, side, order, gstart, gslot, nt, tcp_server, udp_server, free, n_free, g0):
    """Feed each flow group's packets through its slot. Returns -1 when done, or the group
    index to resume from once more free slots are provided."""
    for g in range(g0, len(gstart) - 1):
        a, b = gstart[g], gstart[g + 1]
        if n_free[0] < b - a + 1:
            return g
        s = gslot[g]
        for k in range(a, b):
            j = order[k]
            e = side[j]
            if s >= 0 and (
                _fire_timers(st, s, nt[j], nt)
                or (st.kind[s] == KIND_IP and st.proto[s] == pk.TCP and _is_reuse(st, s, e, p, j))
            ):
                st.ended[s] = 1
                s = -1
            if s < 0:
                n_free[0] -= 1
                s = free[n_free[0]]
                _start_flow(st, s, key[j], e, p, j, tcp_server, udp_server)
            _packet(st, s, e, p, j)
        gslot[g] = s
    return -1


@njit(cache=True)
def _expire_all(st, now, nt):
    """Fire due timers of every live flow up to network time ``now``."""
    for s in range(len(st.kind)):
        if st.kind[s] != KIND_FREE and not st.ended[s] and _fire_timers(st, s, now, nt):
            st.ended[s] = 1


# ---------------------------------------------------------------- Python side


def _base62(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = digits[r] + out
    return out or "0"


def mac_text(v: int) -> str:
    return ":".join(f"{b:02x}" for b in int(v).to_bytes(6, "big"))


def ip_text(ver: int, hi: int, lo: int) -> str:
    if ver == 4:
        return str(ipaddress.IPv4Address(int(lo) & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))


PROTO_NAMES = {pk.TCP: "tcp", pk.UDP: "udp", pk.ICMP: "icmp", pk.ICMP6: "icmp6"}
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def conn_state(proto: str, os: int, rs: int, osize: int, rsize: int, history: str) -> str:
    """Zeek's Conn::conn_state from endpoint states (TCP) or activity (UDP)."""
    if proto == "tcp":
        o_inactive = os in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os in (SYN_SENT, SYN_ACK_SENT) or (os == RESET and osize == 0 and rsize == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os == RESET:
            if r_inactive:
                return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
            return "RSTO"
        if rs == CLOSED and os == CLOSED:
            return "SF"
        if os == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"
    if proto == "udp":
        if os:
            return "SF" if rs else "S0"
        return "SHR" if rs else "OTH"
    return "OTH"


def _tcp_sizes(st: _State, slots: np.ndarray) -> np.ndarray:
    """Zeek's TCP_Endpoint::Size (payload bytes from the sequence span) per side, [n,2]."""
    last, ack = st.rel_last[slots], st.rel_ack[slots]
    size = np.maximum(np.maximum(last, ack), 0)
    size = np.where(size != 0, size - 1, 0)
    size = np.where((st.fin_cnt[slots] > 0) & (size != 0), size - 1, size)
    state, prev = st.tstate[slots], st.tprev[slots]
    aborted = (prev == SYN_SENT) & (state == RESET) & (state[:, ::-1] == INACTIVE) & ~np.isin(ack, (0, 1))
    return np.where(aborted, 0, size)


class _FlowInfo(NamedTuple):
    """Per-flow strings, computed once when the flow is first reported."""

    uid: str
    community_id: str
    host: tuple[str, str]  # per canonical side
    mac: tuple[str, str]
    proto: str


class FlowTable:
    """Feed packets with ``add`` in capture order; call ``flush`` at each interval end."""

    def __init__(self, uid_salt: str = "", capacity: int = 1024):
        self._st = _alloc_state(capacity)
        self._free = np.arange(capacity - 1, -1, -1, dtype=np.int64)
        self._n_free = np.array([capacity], np.int64)
        self._slot_of: dict[int, int] = {}
        self._info: dict[int, _FlowInfo] = {}
        self._salt = uid_salt
        self._nt = np.iinfo(np.int64).min  # network time: latest timestamp seen
        self._frags: dict[tuple, tuple[int, int]] = {}
        self._tcp_server = np.zeros(65536, np.bool_)
        self._tcp_server[list(TCP_SERVER_PORTS)] = True
        self._udp_server = np.zeros(65536, np.bool_)
        self._udp_server[list(UDP_SERVER_PORTS)] = True

    @property
    def network_time(self) -> int:
        return self._nt

    def __len__(self) -> int:
        return int(np.count_nonzero(self._st.kind))

    def _grow(self, need: int) -> None:
        cap = len(self._st.kind)
        new_cap = cap
        while new_cap - cap + int(self._n_free[0]) < need:
            new_cap *= 2
        self._st = _grow_state(self._st, new_cap)
        free = np.empty(new_cap, np.int64)  # the stack of free slots, top at n_free - 1
        nf = int(self._n_free[0])
        free[: new_cap - cap] = np.arange(new_cap - 1, cap - 1, -1)
        free[new_cap - cap : new_cap - cap + nf] = self._free[:nf]
        self._free = free
        self._n_free[0] = new_cap - cap + nf

    def _assign_fragment_ports(self, p: pk.Packets) -> None:
        """Later IP fragments carry no ports: borrow them from the datagram's first fragment."""
        for i in np.flatnonzero((p.frag != pk.FRAG_NONE) & (p.status == pk.OK)):
            k = (int(p.src_hi[i]), int(p.src_lo[i]), int(p.dst_hi[i]), int(p.dst_lo[i]), int(p.proto[i]), int(p.ip_id[i]))
            if p.frag[i] == pk.FRAG_FIRST:
                if len(self._frags) > 65536:
                    self._frags.clear()
                self._frags[k] = (int(p.sport[i]), int(p.dport[i]))
            elif k in self._frags:
                p.sport[i], p.dport[i] = self._frags[k]

    def add(self, p: pk.Packets) -> None:
        """Account a batch of packets (capture order). Malformed packets are ignored."""
        n = len(p.ts)
        if n == 0:
            return
        self._assign_fragment_ports(p)
        nt = np.maximum.accumulate(np.maximum(p.ts, self._nt))
        self._nt = int(nt[-1])
        key = np.zeros(n, np.uint64)
        side = np.zeros(n, np.uint8)
        _keys(p, key, side)
        valid = np.flatnonzero(p.status != pk.MALFORMED)
        order = valid[np.argsort(key[valid], kind="stable")]
        ks = key[order]
        gstart = np.concatenate([[0], np.flatnonzero(ks[1:] != ks[:-1]) + 1, [len(order)]]).astype(np.int64)
        gkeys = ks[gstart[:-1]].tolist()
        slot_of = self._slot_of
        gslot = np.array([slot_of.get(k, -1) for k in gkeys], np.int64)
        g = 0
        while g >= 0:
            g = _advance(self._st, p, key, side, order, gstart, gslot, nt, self._tcp_server, self._udp_server,
                         self._free, self._n_free, g)
            if g >= 0:
                self._grow(int(gstart[g + 1] - gstart[g]) + 1)
        for k, s in zip(gkeys, gslot.tolist()):
            slot_of[k] = s
        _expire_all(self._st, self._nt, nt)

    def flush(self, final: bool = False) -> dict[str, list]:
        """Records (column lists, wire.FLOWS names) for flows with packets since the last
        flush and for flows that ended; ``final`` ends every flow (end of input)."""
        st = self._st
        if final:
            live = np.flatnonzero((st.kind != KIND_FREE) & (st.ended == 0))
            st.ended[live] = 1
        slots = np.flatnonzero((st.kind != KIND_FREE) & ((st.iv_seen != 0) | (st.ended != 0)))
        rows = self._records(slots)
        st.iv_seen[slots] = 0
        done = slots[st.ended[slots] != 0]
        for s, k in zip(done.tolist(), st.key[done].tolist()):
            if self._slot_of.get(k) == s:
                del self._slot_of[k]
            self._info.pop(s, None)
        st.kind[done] = KIND_FREE
        st.ended[done] = 0
        nf = int(self._n_free[0])
        self._free[nf : nf + len(done)] = done
        self._n_free[0] = nf + len(done)
        return rows

    def _flow_info(self, s: int) -> _FlowInfo:
        info = self._info.get(s)
        if info is None:
            info = self._info[s] = self._describe(s)
        return info

    def _describe(self, s: int) -> _FlowInfo:
        st = self._st
        ver, hi, lo, port = int(st.ipver[s]), st.addr_hi[s], st.addr_lo[s], st.port[s]
        uid_src = f"{self._salt}|{int(st.key[s])}|{int(st.start[s])}".encode()
        uid = "C" + _base62(int.from_bytes(hashlib.blake2b(uid_src, digest_size=12).digest(), "big"))
        mac = (mac_text(st.mac[s, 0]), mac_text(st.mac[s, 1]))
        if st.kind[s] == KIND_L2:
            return _FlowInfo(uid, "", ("", ""), mac, "l2")
        host = (ip_text(ver, hi[0], lo[0]), ip_text(ver, hi[1], lo[1]))
        proto_num = int(st.proto[s])
        proto = PROTO_NAMES.get(proto_num, str(proto_num))
        return _FlowInfo(uid, _community_id(proto_num, host, (int(port[0]), int(port[1]))), host, mac, proto)

    def _records(self, slots: np.ndarray) -> dict[str, list]:
        st = self._st
        o = st.orig_side[slots].astype(np.int64)
        r = 1 - o
        idx = np.arange(len(slots))
        tcp = (st.kind[slots] == KIND_IP) & (st.proto[slots] == pk.TCP)
        size = np.where(tcp[:, None], _tcp_sizes(st, slots), np.maximum(st.size[slots], 0))
        d_bytes = np.maximum(size - st.em_bytes[slots], 0)
        st.em_bytes[slots] = np.maximum(size, st.em_bytes[slots])
        d_pkts = st.pkts[slots] - st.em_pkts[slots]
        d_ipb = st.ipb[slots] - st.em_ipb[slots]
        st.em_pkts[slots] = st.pkts[slots]
        st.em_ipb[slots] = st.ipb[slots]
        cols: dict[str, list] = {name: [] for name in _RECORD_FIELDS}
        tstate = st.tstate[slots]
        for i, s in enumerate(slots.tolist()):
            info = self._flow_info(s)
            oi, ri = int(o[i]), int(r[i])
            history = st.hist[s, : st.hist_len[s]].tobytes().decode("ascii")
            cols["uid"].append(info.uid)
            cols["community_id"].append(info.community_id)
            cols["orig_h"].append(info.host[oi])
            cols["resp_h"].append(info.host[ri])
            cols["orig_l2_addr"].append(info.mac[oi])
            cols["resp_l2_addr"].append(info.mac[ri])
            cols["proto"].append(info.proto)
            cols["history"].append(history)
            cols["conn_state"].append(
                conn_state(info.proto, int(tstate[i, oi]) if tcp[i] else int(st.size[s, oi] >= 0),
                           int(tstate[i, ri]) if tcp[i] else int(st.size[s, ri] >= 0),
                           int(size[i, oi]), int(size[i, ri]), history)
            )
        start, seen = st.start[slots], st.seen[slots]
        cols.update(
            ts=start.tolist(), ts_end=seen.tolist(), duration=((seen - start) / SEC).tolist(),
            vlan=st.vlan[slots].tolist(), orig_p=st.port[slots, o].tolist(), resp_p=st.port[slots, r].tolist(),
            ethertype=st.ethertype[slots].tolist(), service=[""] * len(slots),
            orig_bytes=d_bytes[idx, o].tolist(), resp_bytes=d_bytes[idx, r].tolist(),
            orig_pkts=d_pkts[idx, o].tolist(), resp_pkts=d_pkts[idx, r].tolist(),
            orig_ip_bytes=d_ipb[idx, o].tolist(), resp_ip_bytes=d_ipb[idx, r].tolist(),
            final=(st.ended[slots] != 0).tolist(),
        )
        return cols


_RECORD_FIELDS = ("uid", "community_id", "orig_h", "resp_h", "orig_l2_addr", "resp_l2_addr", "proto", "history",
                  "conn_state")


def _community_id(proto: int, host: tuple[str, str], port: tuple[int, int]) -> str:
    """Community ID v1 (seed 0) of a flow, from the ``communityid`` package."""
    if proto == pk.ICMP:  # ports are (type, counterpart type or code): what make_icmp expects
        tpl = communityid.FlowTuple.make_icmp(host[0], host[1], *port)
    elif proto == pk.ICMP6:
        tpl = communityid.FlowTuple.make_icmp6(host[0], host[1], *port)
    elif proto in (pk.TCP, pk.UDP, 132):
        tpl = communityid.FlowTuple(proto, host[0], host[1], *port)
    else:
        tpl = communityid.FlowTuple(proto, host[0], host[1])
    return _CID.calc(tpl)


_CID = communityid.CommunityID(seed=0)
