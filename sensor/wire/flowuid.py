"""``wire.flow_uid`` of every row of a flows table at once.

The hash input strings are built with Arrow's string kernels; their BLAKE2b digests
(sensor/wire/blake2.py) and base62 texts are compiled loops over the rows that let go of the GIL. The
result equals ``flow_uid`` row by row (tests/sensor/test_community.py checks it on the corpus,
tests/sensor/test_blake2.py on the plant's batches too).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensor.jit import njit
from sensor.wire import blake2

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_DIGITS = 17  # 62**17 > 2**96: a 12-byte digest has at most 17 base62 digits
TEXT_SLICE = 1 << 12  # rows whose hash input texts are built at once


def _text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(col, pa.string())


def _end(h, p, m) -> pa.Array:
    """An end as Python prints the tuple (address, port, MAC): ``('10.0.0.1', 502, '02:…')``."""
    return pc.binary_join_element_wise("('", h, "', ", _text(p), ", '", m, "')", "")


def _less_or_equal(a: tuple, b: tuple) -> pa.Array:
    """Python's tuple order a <= b for (address, port, MAC) columns."""
    (ah, ap, am), (bh, bp, bm) = a, b
    return pc.or_(pc.less(ah, bh), pc.and_(pc.equal(ah, bh), pc.or_(
        pc.less(ap, bp), pc.and_(pc.equal(ap, bp), pc.less_equal(am, bm)))))


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
    n = flows.num_rows
    col = {name: flows.column(name).combine_chunks() for name in (
        "proto", "vlan", "ethertype", "orig_h", "orig_p", "orig_l2_addr", "resp_h", "resp_p", "resp_l2_addr")}
    a = (col["orig_h"], col["orig_p"], col["orig_l2_addr"])
    b = (col["resp_h"], col["resp_p"], col["resp_l2_addr"])
    a_text, b_text = _end(*a), _end(*b)
    a_low = _less_or_equal(a, b)
    low, high = pc.if_else(a_low, a_text, b_text), pc.if_else(a_low, b_text, a_text)
    a_text = b_text = a_low = None
    start = _text(flows.column("ts").combine_chunks().cast(pa.int64()))
    salt = salt if isinstance(salt, pa.Array) else pa.scalar(salt)
    src = pc.binary_join_element_wise(salt, col["proto"], _text(col["vlan"]), _text(col["ethertype"]),
                                      start, low, high, "|").cast(pa.binary())
    low = high = start = None
    offsets = np.frombuffer(src.buffers()[1], np.int32, n + 1, src.offset * 4)
    data = np.frombuffer(src.buffers()[2] or b"", np.uint8)
    return blake2.digests(data, offsets, 12)


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
