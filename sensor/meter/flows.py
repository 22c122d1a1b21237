"""Bidirectional flow table with Zeek ``conn.log`` semantics and NetFlow-style interval records.

Packets arrive as column arrays (``sensor.decode.packet.Packets``), in capture order, one batch
interval at a time. Per call the work is vectorised: a numba loop hashes every packet's
canonical (direction-free) key, numpy sorts packets by key (stable, so time order is kept
inside a flow) and a second numba loop walks each flow's packets through Zeek's TCP endpoint
state machine, history letters and connection timers. Python runs once per flow and chunk to
find the flow's slot; an interval's records are built as Arrow columns from the matrices, with no
Python object per flow.

Flow state lives in four matrices indexed by slot (``_State``); side 0/1 is the canonical
lower/higher endpoint, column ``ORIG_SIDE`` says which one Zeek calls the originator.

Timers follow Zeek exactly for offline replay: a timer due at time x fires at the first
network time (running maximum of packet timestamps) >= x, before that packet is processed.
That is what splits S0 attempts after 5 s, removes closed TCP connections 5 s after their
last activity and expires idle flows (TCP 5 min, UDP/ICMP/other 1 min).

Kernel helpers are compiled with ``_nrt=False`` (no reference counting of their array
arguments, which otherwise dominates the per-packet cost); only the entry points called
from Python use the runtime.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from sensor import wire
from sensor.jit import njit
from sensor.wire import arrays, community, flowuid
from sensor.decode import packet as pk
from sensor.decode.fast import siphash
from sensor.decode.packet import _is_dns_port
from sensor.meter.slotindex import SlotIndex

SEC = 1_000_000  # timestamps are int64 µs
TCP_TIMEOUT, UDP_TIMEOUT, ICMP_TIMEOUT, OTHER_TIMEOUT = 300 * SEC, 60 * SEC, 60 * SEC, 60 * SEC
TCP_SYN_TIMEOUT = 5 * SEC  # first ExpireTimer check
TCP_SESSION_TIMER = 6 * SEC  # ExpireTimer period
TCP_LINGER = 5 * SEC  # tcp_connection_linger
TCP_ATTEMPT_DELAY = 5 * SEC
TCP_CLOSE_DELAY = 5 * SEC
DNS_SESSION_TIMEOUT = 10 * SEC  # Zeek's DNS analyzer ends idle UDP DNS flows early
TOO_LARGE_SEQ_DELTA = 1048576

# TCP endpoint states (Zeek's TCP_ENDPOINT_*)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
# history masks (Zeek's TCP_Endpoint HIST_*; responder bits are shifted by 16)
H_SYN, H_FIN, H_RST, H_FIN_RST, H_DATA, H_ACK, H_MULTI = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
KIND_FREE, KIND_IP, KIND_L2 = 0, 1, 2
APP_DETECT, APP_DECODE, APP_IGNORE = 0, 1, 2  # what the application-layer stage does with a flow

# Zeek's likely_server_ports as its default scripts build it (each base/protocols script adds
# its ports) plus 102/tcp and 4840/tcp + 4843/tcp, which the ICSNPP S7comm and OPC UA binary packages
# add (their baselines show the flips); used only for Zeek's originator heuristics when a flow starts
# mid-stream.
TCP_SERVER_PORTS = frozenset(
    [21, 22, 25, 53, 80, 81, 88, 102, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631, 636,
     989, 990, 992, 993, 995, 1080, 1434, 2811, 3128, 3268, 3306, 3389, 4840, 4843, 5222, 5223, 5269, 6666,
     6667, 6668, 6669, 8000, 8080, 8888, 20000]
)
UDP_SERVER_PORTS = frozenset(
    [53, 67, 88, 123, 137, 161, 162, 443, 514, 1812, 2123, 2152, 3544, 4789, 5060, 5072, 5353, 5355,
     6081, 20000]
)


# Flow state is four matrices indexed by slot, so kernels pass four arrays, not dozens: F (int64)
# holds the times, relative sequence numbers and byte counts, S (uint32) the columns that fit 32 bits
# (ports, EtherType, VLAN, service code, counters, initial sequence numbers, packets), U (uint64) the key
# and addresses, H (uint8) the history letters, then the byte-wide state (kinds, flags, protocol, TCP
# states, history masks). 347 bytes a slot (616 with every column int64, the reported packets and IP
# bytes kept as well, the scaled history's thresholds, a FIN count and the timeout in columns of their
# own). The two scaled history counters saturate at I32_MAX (as Zeek's), the packets since the last
# record at U32_MAX.
ETHERTYPE, VLAN, SERVICE = range(3)
# per-side columns: the field's column + side (0 = lower canonical endpoint, 1 = higher)
PORT, RX_CNT, W0_CNT, START_SEQ, PKTS = range(3, 3 + 2 * 5, 2)
NS = 3 + 2 * 5
HMAX = 40  # history letters kept per flow: H's first columns
(KIND, ENDED, IV_SEEN, PROTO, IPVER, ORIG_SIDE, HIST_LEN, ACTIVE, DNS_SEEN, APP, DELETING, LONG_TIMEOUT,
 APP_TRIES) = range(HMAX, HMAX + 13)
HIST_SEEN = HMAX + 13  # + 0 the originator's history mask, + 1 the responder's (a UDP flow's both in + 0)
TSTATE, TPREV, DID_CLOSE, FIN_SEEN = range(HMAX + 15, HMAX + 15 + 2 * 4, 2)  # per side
NH = HMAX + 15 + 2 * 4
# F columns, then per side; SIZE (flows other than TCP) shares REL_LAST's column (TCP flows only)
START, LAST, SEEN, T_INACT, T_EXPIRE, T_ATTEMPT = range(6)
T_DELETE = T_ATTEMPT  # (H[:, DELETING] says which: a close cancels the attempt timer, no SYN follows a close)
IPB, EM_BYTES, REL_LAST, REL_ACK, LAST_SYN, LAST_FIN, LAST_RST = range(6, 6 + 2 * 7, 2)
SIZE = REL_LAST
NI = 6 + 2 * 7
I32_MAX = 2**31 - 1
U32_MAX = 2**32 - 1
KEY, ADDR_HI, ADDR_LO, MAC, UID = 0, 1, 3, 5, 7  # U columns (SlotIndex reads KEY first); ADDR_*/MAC per side, UID two
NU = 9
RECORD_SLICE = 1 << 14  # flows whose records are built at once
UID_KNOWN = 1 << 32  # in U[:, UID + 1] (beside the digest's last 4 bytes): the uid's digest is worked out
# meanings: KIND KIND_*; ENDED closed, waiting to be reported; IV_SEEN packets this interval;
# START/LAST/SEEN first packet, Zeek's last_time (drives timers), last packet (µs);
# ACTIVE Zeek's TCPSessionAdapter::is_active; LONG_TIMEOUT a handshake raised the inactivity timeout to
# TCP's (``_timeout``); T_* timer due times (0 = none; T_EXPIRE is the
# DNS analyzer's timer for UDP DNS flows; DELETING: T_ATTEMPT's column holds T_DELETE); DNS_SEEN the
# first DNS message was seen (Zeek's DNS analyzer may flip the flow on it); APP the application-layer
# stage's APP_* mark (zeroed, i.e. APP_DETECT, when the slot starts a flow; the kernels never read it)
# and APP_TRIES its payload packets offered to detection so far (so that a flow being detected needs no
# object of the stage); SERVICE the flow's service names (``FlowTable.set_service``; 0: none);
# PKTS/IPB packets and IP bytes since the flow's last record; SIZE payload bytes of non-TCP flows (-1
# before the side's first packet; in REL_LAST's column); EM_BYTES payload bytes already reported;
# TSTATE/TPREV TCP endpoint state; START_SEQ 32-bit ISN; REL_LAST/REL_ACK last seq / highest ack
# relative to START_SEQ, unwrapped (64 bits: a side may span more than 4 GiB); LAST_* relative seq of
# the last SYN/FIN/RST (history repeats); FIN_SEEN a FIN was sent; RX_*/W0_* scaled history counters.


class _State(NamedTuple):
    F: np.ndarray
    S: np.ndarray
    U: np.ndarray
    H: np.ndarray

    @staticmethod
    def alloc(cap: int) -> _State:
        return _State(np.zeros((cap, NI), np.int64), np.zeros((cap, NS), np.uint32), np.zeros((cap, NU), np.uint64),
                      np.zeros((cap, NH), np.uint8))

    def grow(self, cap: int) -> None:
        """``cap`` rows, in place: a realloc moves the pages rather than copying them, so growing
        never holds the old and the new matrices at once (nothing may keep a view of them)."""
        for matrix in self:
            matrix.resize((cap, matrix.shape[1]), refcheck=False)  # new rows are zeros


# ---------------------------------------------------------------- keys


@njit(cache=True)
def _keys(p, key, side, k0, k1):
    """Canonical flow key per packet (SipHash-1-3 under the table's secret ``k0``, ``k1`` of the
    status, VLAN, protocol and both endpoints, lower endpoint first) and the sender's side (0 = lower)."""
    for i in range(len(p.ts)):
        st = p.status[i]
        if st == pk.MALFORMED:
            continue
        if st == pk.OK:
            a = (p.src_hi[i], p.src_lo[i], p.sport[i])
            b = (p.dst_hi[i], p.dst_lo[i], p.dport[i])
            code = (np.uint64(p.proto[i]) << np.uint64(8)) | np.uint64(p.ipver[i])
        else:
            a = (np.uint64(0), p.src_mac[i], np.uint16(0))
            b = (np.uint64(0), p.dst_mac[i], np.uint16(0))
            code = np.uint64(p.ethertype[i])
        s = 1 if b < a else 0
        lo, hi = (b, a) if s else (a, b)
        v = siphash.start(k0, k1)
        v = siphash.absorb(v, np.uint64(st) | (np.uint64(p.vlan[i]) << np.uint64(8)) | (code << np.uint64(24)))
        v = siphash.absorb(v, lo[0])
        v = siphash.absorb(v, lo[1])
        v = siphash.absorb(v, (np.uint64(lo[2]) << np.uint64(16)) | np.uint64(hi[2]))
        v = siphash.absorb(v, hi[0])
        v = siphash.absorb(v, hi[1])
        key[i] = siphash.finish(v, 6)
        side[i] = s


# ---------------------------------------------------------------- history


@njit(cache=True, _nrt=False)
def _add_hist(H, s, ch):
    n = H[s, HIST_LEN]
    if n < HMAX:
        H[s, n] = ch
        H[s, HIST_LEN] = n + 1


@njit(cache=True, _nrt=False)
def _case(ch, is_orig):
    return ch if is_orig else ch + 32


@njit(cache=True, _nrt=False)
def _check_hist(H, s, mask, ch, is_orig):
    """Zeek's TCP_Endpoint::CheckHistory: record the letter once; True if seen before."""
    seen = HIST_SEEN if is_orig else HIST_SEEN + 1
    if H[s, seen] & mask:
        return True
    H[s, seen] |= mask
    _add_hist(H, s, _case(ch, is_orig))
    return False


@njit(cache=True, _nrt=False)
def _scaled_hist(S, H, s, cnt, ch, is_orig):
    """Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th … occurrence (``cnt``: the side's
    counter column). The thresholds are 32 bits, as Zeek's: past 10^9 the next is I32_MAX, where the
    counter stays."""
    n = np.int64(S[s, cnt]) + 1
    if n > I32_MAX:
        return
    S[s, cnt] = n
    threshold = 1
    while threshold < n:
        threshold *= 10
    if n == threshold or n == I32_MAX:
        _add_hist(H, s, _case(ch, is_orig))


# ---------------------------------------------------------------- TCP (Zeek's TCPSessionAdapter)


@njit(cache=True, _nrt=False)
def _sdelta(a, b):
    """Signed 32-bit difference a - b of sequence numbers."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


@njit(cache=True, _nrt=False)
def _handshake(state):
    return state == INACTIVE or state == SYN_SENT or state == SYN_ACK_SENT


@njit(cache=True, _nrt=False)
def _set_state(F, H, s, e, new):
    """TCP_Endpoint::SetState: finishing the handshake raises the inactivity timeout."""
    old = H[s, TSTATE + e]
    if old != new:
        if not _handshake(new) and _handshake(old) and _handshake(H[s, TSTATE + 1 - e]):
            H[s, LONG_TIMEOUT] = 1
            F[s, T_INACT] = F[s, LAST] + TCP_TIMEOUT
        H[s, TPREV + e] = old
        H[s, TSTATE + e] = new


@njit(cache=True, _nrt=False)
def _init_seq(F, S, s, e, start, rel_last):
    S[s, START_SEQ + e] = start & 0xFFFFFFFF
    F[s, REL_ACK + e] = 0
    F[s, REL_LAST + e] = rel_last


@njit(cache=True, _nrt=False)
def _init_endpoint(F, S, H, s, e, syn, seq, seg):
    state = H[s, TSTATE + e]
    if state == INACTIVE:
        if syn:
            _init_seq(F, S, s, e, seq, seg)
        else:  # partial connection: number as if a SYN had been seen
            _init_seq(F, S, s, e, seq - 1, 1)
    elif syn and (
        ((state == SYN_SENT or state == SYN_ACK_SENT) and seq != S[s, START_SEQ + e])
        or state == ESTABLISHED
        or state == PARTIAL
        or (state == RESET and H[s, TPREV + e] == INACTIVE)
    ):
        _init_seq(F, S, s, e, seq, seg)


@njit(cache=True, _nrt=False)
def _update_history(F, H, s, e, is_orig, syn, fin, rst, ack, rel_seq, ln):
    bits = syn + fin + rst
    if bits > 1:
        if fin and rst:
            _check_hist(H, s, H_FIN_RST, ord("I"), is_orig)
        else:
            _check_hist(H, s, H_MULTI, ord("Q"), is_orig)
    elif bits == 1:
        if syn:
            code = ord("H") if ack else ord("S")
            if _check_hist(H, s, H_SYN, code, is_orig) and rel_seq != F[s, LAST_SYN + e]:
                _add_hist(H, s, _case(code, is_orig))
            F[s, LAST_SYN + e] = rel_seq
        if fin:
            if _check_hist(H, s, H_FIN, ord("F"), is_orig) and rel_seq + ln != F[s, LAST_FIN + e]:
                _add_hist(H, s, _case(ord("F"), is_orig))
            F[s, LAST_FIN + e] = rel_seq + ln
        if rst:
            if _check_hist(H, s, H_RST, ord("R"), is_orig) and rel_seq != F[s, LAST_RST + e]:
                _add_hist(H, s, _case(ord("R"), is_orig))
            F[s, LAST_RST + e] = rel_seq
    elif ln:
        _check_hist(H, s, H_DATA, ord("D"), is_orig)
    elif ack:
        _check_hist(H, s, H_ACK, ord("A"), is_orig)


@njit(cache=True, _nrt=False)
def _update_last_seq(F, S, H, s, e, last_seq, syn, fin, rst, ln, is_orig):
    last_abs = (np.int64(S[s, START_SEQ + e]) + F[s, REL_LAST + e]) & 0xFFFFFFFF
    d = _sdelta(last_seq, last_abs)
    if (syn or rst) and (d > TOO_LARGE_SEQ_DELTA or d < -TOO_LARGE_SEQ_DELTA):
        pass
    elif fin and F[s, REL_LAST + e] == 1:
        F[s, REL_LAST + e] += d
    elif H[s, TSTATE + e] == RESET:
        pass
    elif d > 0:
        F[s, REL_LAST + e] += d
    elif ln > 0:
        _scaled_hist(S, H, s, RX_CNT + e, ord("T"), is_orig)


@njit(cache=True, _nrt=False)
def _flip(H, s):
    H[s, ORIG_SIDE] = 1 - H[s, ORIG_SIDE]
    _add_hist(H, s, ord("^"))


@njit(cache=True, _nrt=False)
def _connection_closed(F, H, s, e, gen_event):
    """Zeek's ConnectionClosed (without reassembly's deferred close)."""
    q = 1 - e
    if H[s, DID_CLOSE + e]:
        return
    H[s, DID_CLOSE + e] = 1
    if H[s, TSTATE + e] == RESET or H[s, DID_CLOSE + q] or H[s, TSTATE + q] == INACTIVE:
        if gen_event and (H[s, TPREV + e] != INACTIVE or H[s, TSTATE + q] != INACTIVE):
            H[s, ACTIVE] = 0  # ConnectionFinished
        F[s, T_EXPIRE] = 0  # CancelTimers (the attempt timer's column is the delete timer's)
        F[s, T_DELETE] = F[s, LAST] + TCP_CLOSE_DELAY
        H[s, DELETING] = 1
    elif H[s, TPREV + e] != INACTIVE:
        due = F[s, LAST] + TCP_SESSION_TIMER
        if F[s, T_EXPIRE] == 0 or due < F[s, T_EXPIRE]:
            F[s, T_EXPIRE] = due


@njit(cache=True, _nrt=False)
def _state_machine(F, S, H, s, e, is_orig, t, seq, syn, fin, rst, ack, ln):
    """Zeek's UpdateStateMachine; returns (do_close, gen_event)."""
    q = 1 - e
    do_close = False
    gen_event = False
    state = H[s, TSTATE + e]
    if state == INACTIVE:
        if syn:
            if is_orig:
                _set_state(F, H, s, e, SYN_ACK_SENT if ack else SYN_SENT)
                F[s, T_ATTEMPT] = t + TCP_ATTEMPT_DELAY
            else:
                if not ack and H[s, TSTATE + q] == SYN_ACK_SENT and seq == S[s, START_SEQ + e]:
                    _flip(H, s)  # SYN and SYN-ACK seen in reverse order
                    _set_state(F, H, s, q, ESTABLISHED)
                if H[s, TSTATE + q] == SYN_SENT:
                    _set_state(F, H, s, q, ESTABLISHED)
                _set_state(F, H, s, e, ESTABLISHED)
        if fin:
            _set_state(F, H, s, e, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(F, H, s, e, RESET)
            peer = H[s, TSTATE + q]
            if is_orig:
                reject = peer == ESTABLISHED
            else:
                reject = peer == SYN_SENT or peer == SYN_ACK_SENT
            do_close = True
            gen_event = not reject
        if H[s, TSTATE + e] == INACTIVE:
            if not is_orig and ln == 0 and H[s, TSTATE + H[s, ORIG_SIDE]] == SYN_SENT:
                pass
            elif ack and H[s, TSTATE + q] == ESTABLISHED:
                _set_state(F, H, s, e, ESTABLISHED)
            else:
                _set_state(F, H, s, e, PARTIAL)
    elif state == SYN_SENT or state == SYN_ACK_SENT:
        if fin:
            _set_state(F, H, s, e, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(F, H, s, e, RESET)
            H[s, ACTIVE] = 0
            do_close = True
    elif state == ESTABLISHED or state == PARTIAL:
        if syn and state == PARTIAL and H[s, TSTATE + q] == INACTIVE and not ack:
            _set_state(F, H, s, e, SYN_SENT)
        if fin and not rst:
            _set_state(F, H, s, e, CLOSED)
            if H[s, TSTATE + q] == RESET and H[s, TPREV + q] == CLOSED:
                _set_state(F, H, s, q, CLOSED)
            do_close = gen_event = True
        if rst:
            _set_state(F, H, s, e, RESET)
            do_close = True
            if H[s, TSTATE + q] != RESET or H[s, TPREV + q] != ESTABLISHED:
                H[s, ACTIVE] = 0
    elif state == CLOSED:
        if rst and H[s, TSTATE + q] != CLOSED:
            _set_state(F, H, s, e, RESET)
            if not H[s, DID_CLOSE + e]:
                do_close = True
    return do_close, gen_event


@njit(cache=True, _nrt=False)
def _tcp_packet(F, S, H, s, e, t, flags, seq, ackn, ln, win):
    """Zeek's TCPSessionAdapter::Process for a segment from side e of flow s."""
    is_orig = e == H[s, ORIG_SIDE]
    q = 1 - e
    syn, fin, rst, ack = (flags >> 1) & 1, flags & 1, (flags >> 2) & 1, (flags >> 4) & 1
    seg = ln + syn + fin - (ln if rst else 0)
    _init_endpoint(F, S, H, s, e, syn, seq, seg)
    last_abs = (np.int64(S[s, START_SEQ + e]) + F[s, REL_LAST + e]) & 0xFFFFFFFF
    rel_seq = F[s, REL_LAST + e] + _sdelta(seq, last_abs)
    _update_history(F, H, s, e, is_orig, syn, fin, rst, ack, rel_seq, ln)
    if win == 0 and not rst and H[s, TSTATE + q] != CLOSED and H[s, TSTATE + e] != RESET:
        _scaled_hist(S, H, s, W0_CNT + e, ord("W"), is_orig)
    if not (H[s, DID_CLOSE] and H[s, DID_CLOSE + 1]):
        F[s, LAST] = t
    if fin:
        H[s, FIN_SEEN + e] = 1
    if ack:
        if H[s, TSTATE + q] == INACTIVE:  # init_peer
            _init_seq(F, S, s, q, ackn - 1, 0)
        else:
            ack_abs = (np.int64(S[s, START_SEQ + q]) + F[s, REL_ACK + q]) & 0xFFFFFFFF
            d = _sdelta(ackn, ack_abs)
            if d > 0 and F[s, REL_ACK + q] + d >= 0 and not rst and not (ackn == 0 and d > TOO_LARGE_SEQ_DELTA):
                F[s, REL_ACK + q] += d
    _update_last_seq(F, S, H, s, e, (seq + seg) & 0xFFFFFFFF, syn, fin, rst, ln, is_orig)
    do_close, gen_event = _state_machine(F, S, H, s, e, is_orig, t, seq, syn, fin, rst, ack, ln)
    if do_close:
        _connection_closed(F, H, s, e, gen_event)


@njit(cache=True, _nrt=False)
def _is_reuse(S, H, s, flags, seq):
    """Zeek's TCPSessionAdapter::IsReuse: does this SYN start a new connection?"""
    if not (flags & 2):
        return False
    o = H[s, ORIG_SIDE]
    r = 1 - o
    conn_orig = o
    if flags & 16:
        if H[s, TSTATE + o] != INACTIVE:
            return False
        conn_orig = r
    if H[s, DID_CLOSE] or H[s, DID_CLOSE + 1]:
        return True
    if seq == S[s, START_SEQ + conn_orig]:
        return False
    if (
        not (flags & 16)
        and H[s, TSTATE + conn_orig] == SYN_ACK_SENT
        and H[s, TSTATE + r] == INACTIVE
        and seq == S[s, START_SEQ + r]
    ):
        return False
    return True


# ---------------------------------------------------------------- timers and flow lifecycle


@njit(cache=True, _nrt=False)
def _fire_timers(F, H, s, now, nt):
    """Run the flow's timers due at or before network time ``now``; True if the flow ended.
    A timer due at x is dispatched at the first network time >= x (``nt`` is sorted)."""
    while True:
        due = F[s, T_INACT]
        which = T_INACT
        for col in (T_EXPIRE, T_ATTEMPT):  # TCP and UDP DNS only; zero otherwise (T_DELETE: T_ATTEMPT's column)
            x = F[s, col]
            if x != 0 and (due == 0 or x < due):
                due, which = x, col
        if due == 0 or due > now:
            return False
        k = np.searchsorted(nt, due)
        t = nt[k] if k < len(nt) else now
        o = H[s, ORIG_SIDE]
        r = 1 - o
        if which == T_INACT:  # Connection::InactivityTimer
            if F[s, LAST] + _timeout(H, s) <= t:
                return True
            F[s, T_INACT] = F[s, LAST] + _timeout(H, s)
        elif which == T_EXPIRE and H[s, PROTO] == pk.UDP:  # DNS_Analyzer::ExpireTimer
            if t - F[s, LAST] >= DNS_SESSION_TIMEOUT - SEC:
                return True
            F[s, T_EXPIRE] = t + DNS_SESSION_TIMEOUT
        elif which == T_EXPIRE:  # TCPSessionAdapter::ExpireTimer
            F[s, T_EXPIRE] = 0
            if not H[s, ACTIVE]:
                continue
            if F[s, LAST] + TCP_LINGER < t:
                so, sr = H[s, TSTATE + o], H[s, TSTATE + r]
                if H[s, DID_CLOSE + o] or H[s, DID_CLOSE + r]:
                    if (
                        (H[s, DID_CLOSE + o] and H[s, DID_CLOSE + r])
                        or so == RESET or sr == RESET or so == INACTIVE or sr == INACTIVE
                    ):
                        return True
                if so == INACTIVE and sr == INACTIVE:
                    return True
            F[s, T_EXPIRE] = t + TCP_SESSION_TIMER
        elif not H[s, DELETING]:  # AttemptTimer
            F[s, T_ATTEMPT] = 0
            so = H[s, TSTATE + o]
            if H[s, ACTIVE] and (so == SYN_SENT or so == SYN_ACK_SENT) and H[s, TSTATE + r] == INACTIVE:
                return True
        else:  # ConnDeleteTimer
            return True


@njit(cache=True, _nrt=False)
def _initial_timeout(ip, proto):
    """TCP starts with the UDP timeout until its handshake completes, as in Zeek."""
    if not ip:
        return OTHER_TIMEOUT
    if proto == pk.ICMP or proto == pk.ICMP6:
        return ICMP_TIMEOUT
    if proto == pk.TCP or proto == pk.UDP:
        return UDP_TIMEOUT
    return OTHER_TIMEOUT


@njit(cache=True, _nrt=False)
def _timeout(H, s):
    """The flow's inactivity timeout: TCP's once a handshake is done (TCP_Endpoint::SetState), else its first."""
    return TCP_TIMEOUT if H[s, LONG_TIMEOUT] else _initial_timeout(H[s, KIND] == KIND_IP, H[s, PROTO])


@njit(cache=True, _nrt=False)
def _start_flow(F, S, U, H, s, key, e, p, j, tcp_server, udp_server):
    """Initialise slot s as a new flow whose first packet j was sent by side e."""
    t = p.ts[j]
    ip = p.status[j] == pk.OK
    F[s, :] = 0
    S[s, :] = 0
    H[s, :] = 0
    H[s, KIND] = KIND_IP if ip else KIND_L2
    H[s, PROTO] = p.proto[j] if ip else 0
    S[s, ETHERTYPE] = p.ethertype[j]
    S[s, VLAN] = p.vlan[j]
    H[s, IPVER] = p.ipver[j] if ip else 0
    a, b = e, 1 - e  # a = the sender's side
    U[s, KEY] = key
    U[s, UID + 1] = 0  # the uid's digest: worked out when the flow is first named
    U[s, MAC + a] = p.src_mac[j]
    U[s, MAC + b] = p.dst_mac[j]
    if ip:
        U[s, ADDR_HI + a], U[s, ADDR_LO + a], S[s, PORT + a] = p.src_hi[j], p.src_lo[j], p.sport[j]
        U[s, ADDR_HI + b], U[s, ADDR_LO + b], S[s, PORT + b] = p.dst_hi[j], p.dst_lo[j], p.dport[j]
    else:
        U[s, ADDR_HI + a], U[s, ADDR_LO + a], U[s, ADDR_HI + b], U[s, ADDR_LO + b] = 0, p.src_mac[j], 0, p.dst_mac[j]
    H[s, ORIG_SIDE] = e
    F[s, START] = F[s, LAST] = F[s, SEEN] = t
    H[s, ACTIVE] = 1
    tcp = ip and H[s, PROTO] == pk.TCP
    for x in range(2):
        if not tcp:  # (a TCP flow's column is its REL_LAST)
            F[s, SIZE + x] = -1
    F[s, T_INACT] = t + _initial_timeout(ip, H[s, PROTO])
    if ip:
        sp, dp = p.sport[j], p.dport[j]
        if H[s, PROTO] == pk.TCP:
            F[s, T_EXPIRE] = t + TCP_SYN_TIMEOUT
            flags = p.tcp_flags[j]
            pure_syn = (flags & 2) and not (flags & 16)
            if not pure_syn and tcp_server[sp] and (not tcp_server[dp] or (not (flags & 2) and sp < dp)):
                _flip(H, s)
        elif H[s, PROTO] == pk.UDP:
            # never make a broadcast or multicast address the originator
            if udp_server[sp] and not udp_server[dp] and not _group_addr(H, U, s, 1 - e, True):
                _flip(H, s)
            if _is_dns_port(S[s, PORT + 1 - H[s, ORIG_SIDE]]):  # Zeek attaches its DNS analyzer
                F[s, T_EXPIRE] = t + DNS_SESSION_TIMEOUT


@njit(cache=True, _nrt=False)
def _count(F, S, H, s, e, t, ip_bytes, pay_len, is_tcp):
    """Count a packet into flow s; payload and history for everything but TCP segments."""
    if S[s, PKTS + e] < U32_MAX:
        S[s, PKTS + e] += 1
    F[s, IPB + e] += ip_bytes
    H[s, IV_SEEN] = 1
    if t > F[s, SEEN]:
        F[s, SEEN] = t
    if is_tcp:
        return
    F[s, LAST] = t
    if H[s, KIND] == KIND_IP and H[s, PROTO] == pk.TCP:  # a later fragment: SIZE is the TCP side's REL_LAST
        return
    F[s, SIZE + e] = max(F[s, SIZE + e], 0) + pay_len
    if H[s, KIND] == KIND_IP and H[s, PROTO] == pk.UDP:
        is_orig = e == H[s, ORIG_SIDE]
        mask = 1 if is_orig else 2  # UDP uses connection-level masks and explicit letters
        if not (H[s, HIST_SEEN] & mask):
            H[s, HIST_SEEN] |= mask
            _add_hist(H, s, ord("D") if is_orig else ord("d"))


@njit(cache=True, _nrt=False)
def _dns_flip(S, U, H, s, e, response):
    """Zeek's DNS analyzer flips a flow whose first message is a response sent by the
    originator, unless the responder address is multicast."""
    o = H[s, ORIG_SIDE]
    r = 1 - o
    if response and e == o and _is_dns_port(S[s, PORT + r]) and not _group_addr(H, U, s, r, False):
        _flip(H, s)


@njit(cache=True, _nrt=False)
def _group_addr(H, U, s, side, broadcast):
    """Is the side's IP address multicast (or, with ``broadcast``, 255.255.255.255)?"""
    if H[s, IPVER] == 4:
        lo = U[s, ADDR_LO + side]
        return (lo >> np.uint64(28)) == np.uint64(0xE) or (broadcast and lo == np.uint64(0xFFFFFFFF))
    return (U[s, ADDR_HI + side] >> np.uint64(56)) == np.uint64(0xFF)


@njit(cache=True)
def _advance(F, S, U, H, p, key, side, order, gstart, gslot, nt, tcp_server, udp_server, free, n_free, g0, pslot):
    """Feed each flow group's packets through its slot, noting each packet's slot in ``pslot``.
    Returns -1 when done, or the group index to resume from once more free slots are provided."""
    for g in range(g0, len(gstart) - 1):
        a, b = gstart[g], gstart[g + 1]
        if n_free[0] < b - a + 1:
            return g
        s = gslot[g]
        for k in range(a, b):
            j = order[k]
            e = side[j]
            is_tcp = p.status[j] == pk.OK and p.proto[j] == pk.TCP and p.frag[j] != pk.FRAG_LATER
            flags = np.int64(p.tcp_flags[j])
            seq = np.int64(p.seq[j])
            if s >= 0 and (_fire_timers(F, H, s, nt[j], nt) or (is_tcp and _is_reuse(S, H, s, flags, seq))):
                H[s, ENDED] = 1
                s = -1
            if s < 0:
                n_free[0] -= 1
                s = free[n_free[0]]
                _start_flow(F, S, U, H, s, key[j], e, p, j, tcp_server, udp_server)
            t = p.ts[j]
            ln = np.int64(p.pay_len[j])
            _count(F, S, H, s, e, t, np.int64(p.ip_len[j] if p.status[j] == pk.OK else p.wirelen[j]), ln, is_tcp)
            pslot[j] = s
            if is_tcp:
                _tcp_packet(F, S, H, s, e, t, flags, seq, np.int64(p.ack[j]), ln, p.win[j])
            elif p.dns_qr[j] and not H[s, DNS_SEEN]:
                H[s, DNS_SEEN] = 1
                _dns_flip(S, U, H, s, e, p.dns_qr[j] == 2)
        gslot[g] = s
    return -1


@njit(cache=True)
def _expire_all(F, H, now, nt):
    """Fire due timers of every live flow up to network time ``now``."""
    for s in range(F.shape[0]):
        if H[s, KIND] != KIND_FREE and not H[s, ENDED] and _fire_timers(F, H, s, now, nt):
            H[s, ENDED] = 1


# columns of an interval slice's numbers (``_record_numbers``), one row each
(R_TS, R_TS_END, R_VLAN, R_ETHERTYPE, R_ORIG_P, R_RESP_P, R_ORIG_BYTES, R_RESP_BYTES, R_ORIG_PKTS, R_RESP_PKTS,
 R_ORIG_IPB, R_RESP_IPB, R_FINAL, R_STATE_O, R_STATE_R, R_EMPTY, R_PROTO, R_VER) = range(18)
NR = 18


@njit(cache=True)
def _record_numbers(F, S, H, slots, out):
    """The numbers of the slots' interval records into ``out`` ([NR, len(slots)], a row per R_* column), in
    one pass; each flow's packets and bytes since its last record are marked reported. Payload bytes are
    Zeek's: a TCP side's from its sequence span (TCP_Endpoint::Size), another's as counted (-1: no packet);
    R_STATE_* a TCP side's endpoint state or whether another side sent; R_PROTO -1 for an L2 flow."""
    for i in range(len(slots)):
        s = slots[i]
        o = np.int64(H[s, ORIG_SIDE])
        tcp = H[s, KIND] == KIND_IP and H[s, PROTO] == pk.TCP
        empty = True
        for x in range(2):
            if tcp:
                ack = F[s, REL_ACK + x]
                size = max(max(F[s, REL_LAST + x], ack), 0)
                size = size - 1 if size != 0 else 0
                if H[s, FIN_SEEN + x] and size != 0:
                    size -= 1
                state = H[s, TSTATE + x]
                if H[s, TPREV + x] == SYN_SENT and state == RESET and H[s, TSTATE + 1 - x] == INACTIVE \
                        and ack != 0 and ack != 1:
                    size = 0
            else:
                size = max(F[s, SIZE + x], 0)
                state = 1 if F[s, SIZE + x] >= 0 else 0
            empty = empty and size == 0
            at = 0 if x == o else 1  # 0: the originator's column
            out[R_ORIG_BYTES + at, i] = max(size - F[s, EM_BYTES + x], 0)
            F[s, EM_BYTES + x] = max(size, F[s, EM_BYTES + x])
            out[R_ORIG_PKTS + at, i], out[R_ORIG_IPB + at, i] = S[s, PKTS + x], F[s, IPB + x]
            S[s, PKTS + x] = 0
            F[s, IPB + x] = 0
            out[R_STATE_O + at, i] = state
            out[R_ORIG_P + at, i] = S[s, PORT + x]
        l2 = H[s, KIND] == KIND_L2
        out[R_TS, i], out[R_TS_END, i] = F[s, START], F[s, SEEN]
        out[R_VLAN, i], out[R_ETHERTYPE, i] = S[s, VLAN], S[s, ETHERTYPE]
        out[R_FINAL, i] = H[s, ENDED] != 0
        out[R_EMPTY, i] = empty
        out[R_PROTO, i] = -1 if l2 else H[s, PROTO]
        out[R_VER, i] = 0 if l2 else H[s, IPVER]


# ---------------------------------------------------------------- Python side


def mac_text(v: int) -> str:
    return _mac_text(int(v))


def ip_text(ver: int, hi: int, lo: int) -> str:
    return _ip_text(int(ver), int(hi), int(lo))


# a site's hosts repeat across its many flows and packets; the caches are bounded (flow records
# format each distinct address once per interval anyway)
@functools.lru_cache(maxsize=1 << 14)
def _mac_text(v: int) -> str:
    return ":".join(f"{b:02x}" for b in v.to_bytes(6, "big"))


@functools.lru_cache(maxsize=1 << 14)
def _ip_text(ver: int, hi: int, lo: int) -> str:
    if ver == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


PROTO_NAMES = {pk.TCP: "tcp", pk.UDP: "udp", pk.ICMP: "icmp", pk.ICMP6: "icmp6"}
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def conn_state(proto: str, os: int, rs: int, empty: bool, rstos0: bool) -> str:
    """Zeek's Conn::conn_state from endpoint states (TCP) or activity (UDP); ``empty``: no payload
    either way; ``rstos0``: the history reads as a SYN the originator reset (``_RSTOS0``)."""
    if proto == "tcp":
        o_inactive = os in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os in (SYN_SENT, SYN_ACK_SENT) or (os == RESET and empty):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os == RESET:
            if r_inactive:
                return "RSTOS0" if rstos0 else "OTH"
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


class Placed(NamedTuple):
    """Where ``FlowTable.add`` put each packet: its flow's slot (-1 if malformed) and whether
    the originator sent it."""

    slot: np.ndarray  # int64
    is_orig: np.ndarray  # bool


class FlowTable:
    """Feed packets with ``add`` in capture order; call ``flush`` at each interval end."""

    def __init__(self, uid_salt: str = "", capacity: int = 1024, max_flows: int | None = None):
        """``max_flows`` bounds the table: when it is full, the flows quiet the longest (those
        already ended first) are evicted, i.e. reported at once with a final record, as Zeek's and
        NetFlow's exporters do under memory pressure; ``evictions`` counts them."""
        self._max = max_flows
        capacity = min(capacity, max_flows) if max_flows else capacity
        self._st = _State.alloc(capacity)
        self._free = np.arange(capacity - 1, -1, -1, dtype=np.int32)  # stack of free slots
        self._n_free = np.array([capacity], np.int64)
        self._slot_of = SlotIndex()  # flow key hash → the slot of the key's latest flow
        self._secret = siphash.secret()  # of the flow keys: see sensor.decode.fast.siphash
        self._service_names = [""]  # Zeek-style service names, comma-joined, by their SERVICE code
        self._service_codes = {"": 0}
        self._salt = uid_salt
        self._salt_text = pa.array([uid_salt], pa.string())  # (flowuid.digests_of's form)
        self._nt = np.iinfo(np.int64).min  # network time: latest timestamp seen
        self._frags: dict[tuple, tuple[int, int]] = {}
        self._tcp_server = np.zeros(65536, np.bool_)
        self._tcp_server[list(TCP_SERVER_PORTS)] = True
        self._udp_server = np.zeros(65536, np.bool_)
        self._udp_server[list(UDP_SERVER_PORTS)] = True
        self._evicted: list[pa.Table] = []  # records of the flows evicted since the last flush
        self._evicted_slots: list[int] = []  # their slots, until a stage takes them (take_evicted)
        self.evictions = 0  # flows evicted since the table was made
        # per slot: its flow's Community ID digest (21 bytes, for community.render), then 1 + the
        # originator's side it was worked out for (0: not yet), so a flow's is hashed once, not every interval
        self._cids = np.zeros((0, 22), np.uint8)

    @property
    def network_time(self) -> int:
        return self._nt

    def __len__(self) -> int:
        return int(np.count_nonzero(self._st.H[:, KIND]))

    def _make_room(self, need: int, busy: np.ndarray) -> None:
        """At least ``need`` free slots: grow up to ``max_flows``, then evict flows not in ``busy``
        (the slots of the chunk being placed); a chunk with more flows than that still grows."""
        cap, nf = len(self._st.F), int(self._n_free[0])
        if self._max is None or cap < self._max:
            self._grow(need, self._max)
        elif nf < need:
            self._evict(max(need - nf, self._max // 16), busy)  # in bulk, not one flow per chunk
        if int(self._n_free[0]) < need:
            self._grow(need)

    def _evict(self, count: int, busy: np.ndarray) -> None:
        F, H = self._st.F, self._st.H
        live = np.flatnonzero(H[:, KIND] != KIND_FREE)
        live = live[~np.isin(live, busy)]
        victims = live[np.lexsort((F[live, SEEN], H[live, ENDED] == 0))[:count]]
        H[victims, ENDED] = 1
        self._evicted.append(self._records(victims))
        self._release(victims)
        self._evicted_slots += victims.tolist()
        self.evictions += len(victims)

    def take_evicted(self) -> list[int]:
        """Slots freed by evictions since the last call (a stage forgets what it held by slot)."""
        slots, self._evicted_slots = self._evicted_slots, []
        return slots

    def _grow(self, need: int, limit: int | None = None) -> None:
        cap = len(self._st.F)
        nf = int(self._n_free[0])
        new_cap = cap
        while new_cap - cap + nf < need and (limit is None or new_cap < limit):
            new_cap += max(new_cap // 16, 1024)  # by a sixteenth: the rows beyond the flows are zeroed, i.e. resident
        new_cap = min(new_cap, max(limit, cap)) if limit else new_cap
        if new_cap == cap:
            return
        self._st.grow(new_cap)
        free = np.empty(new_cap, np.int32)
        free[: new_cap - cap] = np.arange(new_cap - 1, cap - 1, -1)
        free[new_cap - cap : new_cap - cap + nf] = self._free[:nf]
        self._free = free
        self._n_free[0] = new_cap - cap + nf

    def _assign_fragment_ports(self, p: pk.Packets) -> None:
        """Later IP fragments carry no ports: borrow them from the datagram's first fragment."""
        for i in np.flatnonzero((p.frag != pk.FRAG_NONE) & (p.status == pk.OK)):
            k = tuple(int(col[i]) for col in (p.src_hi, p.src_lo, p.dst_hi, p.dst_lo, p.proto, p.ip_id))
            if p.frag[i] == pk.FRAG_FIRST:
                if len(self._frags) > 65536:
                    self._frags.clear()
                self._frags[k] = (int(p.sport[i]), int(p.dport[i]))
            elif k in self._frags:
                p.sport[i], p.dport[i] = self._frags[k]

    def add(self, p: pk.Packets) -> Placed:
        """Account a batch of packets (capture order). Malformed packets are ignored."""
        n = len(p.ts)
        pslot = np.full(n, -1, np.int64)
        if n == 0:
            return Placed(pslot, np.zeros(0, np.bool_))
        self._assign_fragment_ports(p)
        nt = np.maximum.accumulate(np.maximum(p.ts, self._nt))
        self._nt = int(nt[-1])
        key = np.zeros(n, np.uint64)
        side = np.zeros(n, np.uint8)
        _keys(p, key, side, *self._secret)
        valid = np.flatnonzero(p.status != pk.MALFORMED)
        if len(valid):  # (a chunk of malformed frames only still advances the network time)
            self._place(p, key, side, _in_arrival_order(valid, key), nt, pslot)
        _expire_all(self._st.F, self._st.H, self._nt, nt)
        return Placed(pslot, side == self._st.H[pslot, ORIG_SIDE])

    def _place(self, p: pk.Packets, key: np.ndarray, side: np.ndarray, order: np.ndarray, nt: np.ndarray,
               pslot: np.ndarray) -> None:
        """Feed the packets ``order`` (grouped by flow key) through their flows' slots."""
        ks = key[order]
        gstart = np.concatenate([[0], np.flatnonzero(ks[1:] != ks[:-1]) + 1, [len(order)]]).astype(np.int64)
        gkeys = ks[gstart[:-1]]
        gslot = self._slot_of.get(gkeys, self._st.U)
        g = 0
        while g >= 0:
            g = _advance(*self._st, p, key, side, order, gstart, gslot, nt, self._tcp_server, self._udp_server,
                         self._free, self._n_free, g, pslot)
            if g >= 0:
                self._make_room(int(gstart[g + 1] - gstart[g]) + 1, gslot)
        self._slot_of.put(gkeys, gslot, self._st.U)

    def flush(self, final: bool = False) -> pa.Table:
        """Records (a wire.FLOWS table) for flows with packets since the last flush and for flows
        that ended; ``final`` ends every flow (end of input) and gives the table's memory back."""
        H = self._st.H
        used = H[:, KIND] != KIND_FREE
        if final:
            H[used, ENDED] = 1
        slots = np.flatnonzero(used & ((H[:, IV_SEEN] != 0) | (H[:, ENDED] != 0)))
        rows = self._final_records(slots) if final else self._records(slots)
        if self._evicted:  # evicted flows first, as they were reported
            rows = pa.concat_tables([*self._evicted, rows])
            self._evicted = []
        if not final:
            H[slots, IV_SEEN] = 0
            self._release(slots[H[slots, ENDED] != 0])
        return rows

    def _final_records(self, slots: np.ndarray) -> pa.Table:
        """``_records`` of every flow, the slices built from the last back, each slice's rows and those
        past it given back once built (realloc shrinks the matrices in place): the records take the
        place of the flows' state instead of adding to it (100,000 flows: 54 MB of state, ~20 of
        records). The table is then empty."""
        parts = []
        for lo in reversed(range(0, len(slots), RECORD_SLICE)):
            part = slots[lo : lo + RECORD_SLICE]
            parts.append(self._record_slice(part))
            self._st.grow(int(part[0]))
            if len(self._cids) > part[0]:
                self._cids.resize((int(part[0]), self._cids.shape[1]), refcheck=False)
        rows = pa.concat_tables(parts[::-1]) if parts else self._record_slice(slots)  # (no slots: an empty table)
        self._st = _State.alloc(0)
        self._free = np.zeros(0, np.int32)
        self._n_free[0] = 0
        self._slot_of = SlotIndex()
        self._cids = np.zeros((0, 22), np.uint8)
        return rows

    def _release(self, done: np.ndarray) -> None:
        """Free the slots of flows that ended and have been reported."""
        H = self._st.H
        self._slot_of.drop(self._st.U[done, KEY], done, self._st.U)
        H[done, KIND] = KIND_FREE
        H[done, ENDED] = 0
        self._cids[done[done < len(self._cids)], 21] = 0
        nf = int(self._n_free[0])
        self._free[nf : nf + len(done)] = done
        self._n_free[0] = nf + len(done)

    def holds(self, slot: int, uid: str) -> bool:
        """Whether ``slot`` still holds the flow ``uid`` (none once a final flush emptied the table)."""
        return slot < len(self._st.S) and self.uid(slot) == uid

    def app_marks(self, slots: np.ndarray) -> np.ndarray:
        """The APP_* mark of each slot's flow."""
        return self._st.H[slots, APP]

    def app_mark(self, slot: int) -> int:
        return int(self._st.H[slot, APP])

    def mark_app(self, slot: int, mark: int) -> None:
        self._st.H[slot, APP] = mark

    def count_try(self, slot: int) -> int:
        """One more payload packet of the flow offered to detection: how many so far."""
        H = self._st.H
        if H[slot, APP_TRIES] < 255:  # (a byte: the stage stops offering long before)
            H[slot, APP_TRIES] += 1
        return int(H[slot, APP_TRIES])

    def set_service(self, slot: int, service: str) -> None:
        code = self._service_codes.get(service)
        if code is None:
            code = self._service_codes[service] = len(self._service_names)
            self._service_names.append(service)
        self._st.S[slot, SERVICE] = code

    def service(self, slot: int) -> str:
        return self._service_names[self._st.S[slot, SERVICE]]

    def endpoints(self, slot: int) -> tuple[str, str, str, int]:
        """(uid, orig_h, resp_h, resp_p) of the flow in ``slot``, as its records name them."""
        S, H = self._st.S, self._st.H
        o = int(H[slot, ORIG_SIDE])
        host = self._hosts(slot)
        return self.uid(slot), host[o], host[1 - o], int(S[slot, PORT + 1 - o])

    def uid(self, slot: int) -> str:
        """The uid of the flow in ``slot``, as its records name it."""
        return wire.uid_text(self._digest(slot))

    def _hosts(self, s: int) -> tuple[str, str]:
        H, U = self._st.H, self._st.U
        if H[s, KIND] == KIND_L2:
            return "", ""
        return ip_text(H[s, IPVER], U[s, ADDR_HI], U[s, ADDR_LO]), ip_text(H[s, IPVER], U[s, ADDR_HI + 1], U[s, ADDR_LO + 1])

    def _digest(self, s: int) -> bytes:
        """The digest under the flow's uid, worked out once and kept in the slot (as ``_keep_digests`` keeps
        them; Python's ints here: this is one flow, where numpy's calls cost more than the work)."""
        U = self._st.U
        low = int(U[s, UID + 1])
        if low & UID_KNOWN:
            return int(U[s, UID]).to_bytes(8, "big") + (low & 0xFFFFFFFF).to_bytes(4, "big")
        digest = self._new_digest(s)
        U[s, UID], U[s, UID + 1] = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big") | UID_KNOWN
        return digest

    def _new_digest(self, s: int) -> bytes:
        """The digest under the uid of the flow in slot ``s``, worked out from its state (``wire.flow_digest``)."""
        F, S, U, H = self._st
        host = self._hosts(s)
        proto = "l2" if H[s, KIND] == KIND_L2 else PROTO_NAMES.get(int(H[s, PROTO]), str(int(H[s, PROTO])))
        ends = [(host[x], int(S[s, PORT + x]), mac_text(U[s, MAC + x])) for x in (0, 1)]
        return wire.flow_digest(self._salt, proto, int(S[s, VLAN]), int(S[s, ETHERTYPE]), int(F[s, START]), *ends)

    def _records(self, slots: np.ndarray) -> pa.Table:
        """The flows' interval records as a wire.FLOWS table, built a slice of slots at a time (a
        chunk each) so that the temporaries stay small whatever the number of flows."""
        if len(slots) <= RECORD_SLICE:
            return self._record_slice(slots)
        return pa.concat_tables(self._record_slice(slots[i : i + RECORD_SLICE]) for i in range(0, len(slots), RECORD_SLICE))

    def _record_slice(self, slots: np.ndarray) -> pa.Table:
        """Records built column by column from the slots' state: texts are formatted once per
        distinct value (host, MAC, protocol, state), never once per flow."""
        if not len(slots):
            return wire.FLOWS.empty_table()
        F, S, U, H = self._st
        n = len(slots)
        num = np.empty((NR, n), np.int64)
        _record_numbers(F, S, H, slots, num)
        o = H[slots, ORIG_SIDE]
        ver = num[R_VER].astype(np.uint64)
        hosts, host = _texts(np.stack([np.repeat(ver, 2), U[slots, ADDR_HI : ADDR_HI + 2].ravel(),
                                       U[slots, ADDR_LO : ADDR_LO + 2].ravel()], axis=1),
                             lambda v, hi, lo: ip_text(v, hi, lo) if v else "")
        macs, mac = _texts(U[slots, MAC : MAC + 2].reshape(-1, 1), mac_text)
        host, mac = host.reshape(n, 2), mac.reshape(n, 2)
        proto_code = num[R_PROTO]
        protos, proto = _texts(proto_code[:, None], _proto_name)
        history = _history(H, slots)
        idx, r = np.arange(n), 1 - o
        ends = ((hosts, host[idx, o]), (macs, mac[idx, o]), (hosts, host[idx, r]), (macs, mac[idx, r]))
        start, seen = num[R_TS], num[R_TS_END]
        cols = {
            "ts": start, "ts_end": seen, "vlan": num[R_VLAN],
            "orig_h": arrays.take_texts(*ends[0]), "orig_p": num[R_ORIG_P],
            "resp_h": arrays.take_texts(*ends[2]), "resp_p": num[R_RESP_P],
            "proto": arrays.take_texts(protos, proto), "ethertype": num[R_ETHERTYPE], "service": self._services(slots),
            "duration": (seen - start) / SEC,
            "orig_bytes": num[R_ORIG_BYTES], "resp_bytes": num[R_RESP_BYTES],
            "orig_pkts": num[R_ORIG_PKTS], "resp_pkts": num[R_RESP_PKTS],
            "orig_ip_bytes": num[R_ORIG_IPB], "resp_ip_bytes": num[R_RESP_IPB],
            "conn_state": _conn_states(proto_code, num[R_STATE_O], num[R_STATE_R], num[R_EMPTY], history),
            "history": history,
            "orig_l2_addr": arrays.take_texts(*ends[1]), "resp_l2_addr": arrays.take_texts(*ends[3]),
            "final": num[R_FINAL] != 0,
        }
        cols["uid"] = self._uids(slots, num, (protos, proto), ends)
        cols["community_id"] = self._community_ids(slots, o, r)
        return pa.Table.from_arrays([_arrow(cols[f.name], f.type) for f in wire.FLOWS], schema=wire.FLOWS)

    def _uids(self, slots: np.ndarray, num: np.ndarray, proto: flowuid.Texts, ends: tuple) -> pa.Array:
        """The flows' uids from the digests the slots keep, those of flows named for the first time worked out
        from their records' numbers ``num`` and texts (``flowuid.Texts``: the slice's distinct protocols; ``ends``
        the originator's host and MAC, then the responder's)."""
        U = self._st.U
        new = np.flatnonzero((U[slots, UID + 1] & np.uint64(UID_KNOWN)) == 0)
        if len(new):
            digests = flowuid.digests_of((self._salt_text, np.zeros(len(new), np.int64)), (proto[0], proto[1][new]),
                                         *((texts, index[new]) for texts, index in ends), num[R_VLAN, new],
                                         num[R_ETHERTYPE, new], num[R_TS, new], num[R_ORIG_P, new], num[R_RESP_P, new])
            _keep_digests(U, slots[new], digests)
        return flowuid.uid_texts(_digests(U[slots]))

    def _services(self, slots: np.ndarray) -> pa.Array:
        """The service names the decoding stages gave the flows ("" for none)."""
        return arrays.take_texts(pa.array(self._service_names, pa.string()), self._st.S[slots, SERVICE])

    def _community_ids(self, slots: np.ndarray, o: np.ndarray, r: np.ndarray) -> pa.Array:
        """The flows' Community IDs, hashed for the flows new to a slot (or whose originator changed)."""
        S, U, H = self._st.S, self._st.U, self._st.H
        if len(self._cids) < len(S):
            self._cids = np.concatenate([self._cids, np.zeros((len(S) - len(self._cids), 22), np.uint8)])
        proto = np.where(H[slots, KIND] == KIND_IP, H[slots, PROTO], 0)
        new = np.flatnonzero(self._cids[slots, 21] != o + 1)
        if len(new):
            s, o, r = slots[new], o[new], r[new]
            ends = [community.words_to_bytes(U[s, ADDR_HI + side], U[s, ADDR_LO + side]) for side in (o, r)]
            self._cids[s, :21] = community.community_digests(proto[new], H[s, IPVER] == 6, *ends, S[s, PORT + o],
                                                             S[s, PORT + r])
            self._cids[s, 21] = o + 1
        return community.render(self._cids[slots, :21], proto != 0)


@njit(cache=True)
def _in_arrival_order(packets, key):
    """The ``packets`` (indices in capture order) grouped by flow key, each group in capture order,
    the groups in the order of their first packets: new flows then take slots in capture order, so
    the records come out in the same order whatever the keys' secret. A counting sort by group, the
    groups numbered by a hash table of the chunk's keys (SipHash values: their low bits are its
    index), in place of a stable sort of the keys (4 ms per 65,536 packets → ~1)."""
    n = len(packets)
    size = 16
    while size < 2 * n:
        size <<= 1
    mask = size - 1
    held = np.empty(size, np.uint64)
    numbered = np.full(size, -1, np.int64)
    group = np.empty(n, np.int64)
    count = np.zeros(n + 1, np.int64)
    groups = 0
    for j in range(n):
        k = key[packets[j]]
        h = np.int64(k & np.uint64(mask))
        while numbered[h] >= 0 and held[h] != k:
            h = (h + 1) & mask
        if numbered[h] < 0:
            numbered[h], held[h] = groups, k
            groups += 1
        group[j] = numbered[h]
        count[numbered[h] + 1] += 1
    place = np.cumsum(count[:groups])  # where each group starts
    order = np.empty(n, np.int64)
    for j in range(n):
        order[place[group[j]]] = packets[j]
        place[group[j]] += 1
    return order


def _arrow(col: np.ndarray | pa.Array, kind: pa.DataType) -> pa.Array:
    """An Arrow column of ``kind`` (a row of a larger matrix copied: ``arrays.numbers``)."""
    return col if isinstance(col, pa.Array) else arrays.numbers(col, kind)


def _proto_name(code: int) -> str:
    return "l2" if code < 0 else PROTO_NAMES.get(code, str(code))


def _texts(values: np.ndarray, fmt) -> tuple[pa.Array, np.ndarray]:
    """Each distinct row of ``values`` formatted once by ``fmt``: (the texts, each row's index into them)."""
    order = np.lexsort(values.T[::-1])  # (np.unique over rows sorts them as bytes: several times slower)
    ranked = values[order]
    first = np.ones(len(values), np.bool_)
    first[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    index = np.empty(len(values), np.int64)
    index[order] = np.cumsum(first) - 1
    return pa.array([fmt(*row) for row in ranked[first].tolist()], pa.string()), index


def _history(H: np.ndarray, slots: np.ndarray) -> pa.Array:
    """The history letters of each flow as one Arrow string column, straight from the slots' bytes."""
    length = H[slots, HIST_LEN].astype(np.int64)
    letters = H[slots, :HMAX][np.arange(HMAX)[None, :] < length[:, None]]  # row by row, in order
    offsets = np.concatenate([[0], np.cumsum(length)]).astype(np.int32)
    return pa.StringArray.from_buffers(len(slots), pa.py_buffer(offsets), pa.py_buffer(letters.tobytes()))


def _conn_states(proto: np.ndarray, os: np.ndarray, rs: np.ndarray, empty: np.ndarray, history: pa.Array) -> pa.Array:
    """``conn_state`` of each flow, worked out once per distinct combination of its inputs; the
    history is read only where it decides (a TCP originator's reset with a quiet responder)."""
    tcp = proto == pk.TCP
    rstos0 = np.zeros(len(proto), np.bool_)
    ask = np.flatnonzero(tcp & (os == RESET) & ((rs == INACTIVE) | (rs == PARTIAL)))
    if len(ask):
        rstos0[ask] = [_RSTOS0.fullmatch(h) is not None for h in arrays.take_texts(history, ask).to_pylist()]
    kind = np.where(tcp, 0, np.where(proto == pk.UDP, 1, 2))
    texts, index = _texts(np.stack([kind, os, rs, empty, rstos0], axis=1),
                          lambda k, o, r, e, z: conn_state(("tcp", "udp", "")[k], o, r, bool(e), bool(z)))
    return arrays.take_texts(texts, index)


def _keep_digests(U: np.ndarray, slots: np.ndarray, digests: np.ndarray) -> None:
    """Keep each slot's 12-byte uid digest in its UID words (marked known)."""
    U[slots, UID] = digests[:, :8].copy().view(">u8").ravel()
    low = np.zeros((len(slots), 8), np.uint8)
    low[:, 4:] = digests[:, 8:]
    U[slots, UID + 1] = low.view(">u8").ravel() | np.uint64(UID_KNOWN)


def _digests(rows: np.ndarray) -> np.ndarray:
    """The 12-byte uid digests kept in U ``rows``, [n, 12] uint8."""
    high = rows[:, UID].astype(">u8").view(np.uint8).reshape(-1, 8)
    low = (rows[:, UID + 1] & np.uint64(0xFFFFFFFF)).astype(">u4").view(np.uint8).reshape(-1, 4)
    return np.concatenate([high, low], axis=1)
