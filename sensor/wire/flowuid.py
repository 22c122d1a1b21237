"""``wire.flow_uid`` of every row of a flows table at once.

The hash input texts (what ``flow_digest`` formats) and their BLAKE2b digests (sensor/wire/blake2.py)
are compiled loops over the columns' buffers, the base62 texts another: no Python per row, and no
``pyarrow.compute``. The result equals ``flow_uid`` row by row (tests/sensor/test_community.py checks
it on the corpus, tests/sensor/test_blake2.py on the plant's batches too).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sensor.jit import njit
from sensor.wire import blake2

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_DIGITS = 17  # 62**17 > 2**96: a 12-byte digest has at most 17 base62 digits
TEXT_SLICE = 1 << 12  # rows whose hash input texts are built at once
_TEXTS = ("proto", "orig_h", "orig_l2_addr", "resp_h", "resp_l2_addr")
_NUMBERS = ("vlan", "ethertype", "ts", "orig_p", "resp_p")
Texts = tuple  # (pa.Array | pa.ChunkedArray of strings without nulls, np.ndarray: each row's index into them)


def flow_uids(flows: pa.Table, salt: str | pa.Array) -> pa.Array:
    """The uid ``wire.flow_uid`` gives each row of ``flows`` (wire.FLOWS names)."""
    return uid_texts(flow_digests(flows, salt))


def flow_digests(flows: pa.Table, salt: str | pa.Array) -> np.ndarray:
    """The 12-byte BLAKE2b digest under each row's uid, [n, 12] uint8 (``flows`` needs ts, proto,
    vlan, ethertype and each end's address, port and MAC; ``salt``: one for every row, or each row's).
    The hash inputs are texts of ~130 bytes a row made several times over, so they are built TEXT_SLICE
    rows at a time (16,384 rows at once: ~6 MB of them)."""
    digests = np.zeros((flows.num_rows, 12), np.uint8)
    for lo in range(0, flows.num_rows, TEXT_SLICE):
        part = flows.slice(lo, TEXT_SLICE)
        digests[lo : lo + part.num_rows] = _digests(part, salt.slice(lo, TEXT_SLICE) if isinstance(salt, pa.Array)
                                                    else salt)
    return digests


def _digests(flows: pa.Table, salt: str | pa.Array) -> np.ndarray:
    rows = np.arange(flows.num_rows)
    salts = (salt, rows) if isinstance(salt, pa.Array) else (pa.array([salt], pa.string()), np.zeros_like(rows))
    return digests_of(salts, *((flows.column(name), rows) for name in _TEXTS),
                      *(_integers(flows.column(name)) for name in _NUMBERS))


def digests_of(salt: Texts, proto: Texts, a_host: Texts, a_mac: Texts, b_host: Texts, b_mac: Texts, vlan: np.ndarray,
               ethertype: np.ndarray, ts: np.ndarray, a_port: np.ndarray, b_port: np.ndarray) -> np.ndarray:
    """``flow_digests`` of rows given as their parts: each text a (strings, each row's index into them) pair (a
    column and 0..n-1, or a flow table's distinct texts), each number int64 a row; ends a and b in either order.
    Refuses what the compiled loop cannot take safely (it checks no bounds): rows of unequal counts, an index
    outside its strings."""
    numbers = [np.ascontiguousarray(v, np.int64) for v in (vlan, ethertype, ts, a_port, b_port)]
    parts = [(strings, np.ascontiguousarray(index, np.int64)) for strings, index in (salt, proto, a_host, a_mac,
                                                                                      b_host, b_mac)]
    if any(len(v) != len(ts) for v in numbers + [index for _, index in parts]):
        raise ValueError("flowuid.digests_of: every part needs one value a row")
    texts = []
    for strings, index in parts:
        if len(index) and (index.min() < 0 or index.max() >= len(strings)):
            raise IndexError(f"flowuid.digests_of: an index outside the {len(strings)} texts")
        texts += [*_buffers(strings), index]
    data, offsets = _hash_inputs(*texts, *numbers)
    return blake2.digests(data, offsets, 12)


def _buffers(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, n + 1 int32 offsets into them) of a string column without nulls."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    return np.frombuffer(col.buffers()[2] or b"", np.uint8), offsets


def _integers(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An integer or timestamp column without nulls as int64."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    col = col.view(pa.int64()) if pa.types.is_timestamp(col.type) else col
    return np.ascontiguousarray(col.to_numpy(), np.int64)


@njit(cache=True)
def _hash_inputs(salt, salt_at, salt_i, proto, proto_at, proto_i, ah, ah_at, ah_i, am, am_at, am_i, bh, bh_at, bh_i,
                 bm, bm_at, bm_i, vlan, ethertype, ts, ap, bp):
    """Each row's ``flow_digest`` input, ``salt|proto|vlan|ethertype|ts|low|high`` (an end as Python
    prints the tuple (address, port, MAC), the two in tuple order), as one buffer and n + 1 offsets; a
    row's text x is ``x[x_at[j]:x_at[j + 1]]`` for ``j = x_i[row]``."""
    n = len(ts)
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    for i in range(n):
        size = (_width(salt_at, salt_i[i]) + _width(proto_at, proto_i[i]) + _int_width(vlan[i])
                + _int_width(ethertype[i]) + _int_width(ts[i]) + 6 + 20 + _width(ah_at, ah_i[i])
                + _width(am_at, am_i[i]) + _int_width(ap[i]) + _width(bh_at, bh_i[i]) + _width(bm_at, bm_i[i])
                + _int_width(bp[i]))
        offsets[i + 1] = offsets[i] + size
    data = np.empty(offsets[n], np.uint8)
    bar = np.uint8(124)  # "|"
    for i in range(n):
        at = _put(data, offsets[i], salt, salt_at[salt_i[i]], salt_at[salt_i[i] + 1])
        data[at] = bar
        at = _put(data, at + 1, proto, proto_at[proto_i[i]], proto_at[proto_i[i] + 1])
        data[at] = bar
        at = _put_int(data, at + 1, vlan[i])
        data[at] = bar
        at = _put_int(data, at + 1, ethertype[i])
        data[at] = bar
        at = _put_int(data, at + 1, ts[i])
        data[at] = bar
        a_lo, a_hi, b_lo, b_hi = ah_at[ah_i[i]], ah_at[ah_i[i] + 1], bh_at[bh_i[i]], bh_at[bh_i[i] + 1]
        am_lo, am_hi, bm_lo, bm_hi = am_at[am_i[i]], am_at[am_i[i] + 1], bm_at[bm_i[i]], bm_at[bm_i[i] + 1]
        order = _compare(ah, a_lo, a_hi, bh, b_lo, b_hi)
        if order == 0:
            order = -1 if ap[i] < bp[i] else (1 if ap[i] > bp[i] else 0)
        if order == 0:
            order = _compare(am, am_lo, am_hi, bm, bm_lo, bm_hi)
        if order <= 0:
            at = _put_end(data, at + 1, ah, a_lo, a_hi, ap[i], am, am_lo, am_hi)
            data[at] = bar
            _put_end(data, at + 1, bh, b_lo, b_hi, bp[i], bm, bm_lo, bm_hi)
        else:
            at = _put_end(data, at + 1, bh, b_lo, b_hi, bp[i], bm, bm_lo, bm_hi)
            data[at] = bar
            _put_end(data, at + 1, ah, a_lo, a_hi, ap[i], am, am_lo, am_hi)
    return data, offsets


@njit(cache=True)
def _width(at, j):
    return at[j + 1] - at[j]


@njit(cache=True)
def _compare(x, x_lo, x_hi, y, y_lo, y_hi):
    """-1, 0 or 1 as ``x[x_lo:x_hi]`` sorts before, with or after ``y[y_lo:y_hi]`` (UTF-8 bytes sort as
    their code points: Python's order of the texts)."""
    k = 0
    while x_lo + k < x_hi and y_lo + k < y_hi:
        if x[x_lo + k] != y[y_lo + k]:
            return -1 if x[x_lo + k] < y[y_lo + k] else 1
        k += 1
    x_len, y_len = x_hi - x_lo, y_hi - y_lo  # one is a prefix of the other: the shorter first
    return 0 if x_len == y_len else (-1 if x_len < y_len else 1)


@njit(cache=True)
def _put(data, at, src, lo, hi):
    for k in range(hi - lo):
        data[at + k] = src[lo + k]
    return at + hi - lo


@njit(cache=True)
def _put_end(data, at, h, h_lo, h_hi, p, m, m_lo, m_hi):
    """``('h', p, 'm')``."""
    data[at], data[at + 1] = 40, 39
    at = _put(data, at + 2, h, h_lo, h_hi)
    data[at], data[at + 1], data[at + 2] = 39, 44, 32
    at = _put_int(data, at + 3, p)
    data[at], data[at + 1], data[at + 2] = 44, 32, 39
    at = _put(data, at + 3, m, m_lo, m_hi)
    data[at], data[at + 1] = 39, 41
    return at + 2


@njit(cache=True)
def _magnitude(v):
    return np.uint64(~v) + np.uint64(1) if v < 0 else np.uint64(v)


@njit(cache=True)
def _int_width(v):
    """The length of ``str(v)``."""
    u = _magnitude(v)
    width = 2 if v < 0 else 1
    while u >= np.uint64(10):
        u //= np.uint64(10)
        width += 1
    return width


@njit(cache=True)
def _put_int(data, at, v):
    """``str(v)`` at ``at``; where it ends."""
    end = at + _int_width(v)
    if v < 0:
        data[at] = 45
    u = _magnitude(v)
    k = end
    while True:
        k -= 1
        data[k] = np.uint8(np.uint64(48) + u % np.uint64(10))
        u //= np.uint64(10)
        if u == np.uint64(0):
            break
    return end


def uid_texts(digests: np.ndarray) -> pa.Array:
    """"C" + base62 (no leading zeros; "0" for zero) of each big-endian 12-byte digest."""
    data, offsets = _base62(np.ascontiguousarray(digests, np.uint8), _BASE62)
    return pa.StringArray.from_buffers(len(digests), pa.py_buffer(offsets), pa.py_buffer(data))


@njit(cache=True, nogil=True)
def _base62(digests, alphabet):
    """The uid texts of ``digests`` ([n, 12]) as one buffer and its n + 1 int32 offsets."""
    n = len(digests)
    data = np.empty(n * (_DIGITS + 1), np.uint8)
    offsets = np.empty(n + 1, np.int32)
    digits = np.empty(_DIGITS, np.uint8)
    offsets[0] = 0
    at = 0
    for row in range(n):
        limbs = np.zeros(3, np.uint64)  # the 96-bit number in three 32-bit limbs, most significant first
        for j in range(3):
            for k in range(4):
                limbs[j] = (limbs[j] << np.uint64(8)) | np.uint64(digests[row, 4 * j + k])
        count = 0
        while True:  # long division by 62, least significant digit first
            rest = np.uint64(0)
            for j in range(3):
                cur = (rest << np.uint64(32)) | limbs[j]
                limbs[j] = cur // np.uint64(62)
                rest = cur % np.uint64(62)
            digits[count] = alphabet[rest]
            count += 1
            if limbs[0] == 0 and limbs[1] == 0 and limbs[2] == 0:
                break
        data[at] = ord("C")
        for k in range(count):
            data[at + 1 + k] = digits[count - 1 - k]
        at += count + 1
        offsets[row + 1] = at
    return data[:at], offsets
