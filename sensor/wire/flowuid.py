"""``wire.flow_uid`` of every row of a flows table at once.

The hash input strings are built with Arrow's string kernels and the base62 text with numpy; only
BLAKE2b runs per row (hashlib over slices of one buffer). The result equals ``flow_uid`` row by
row (tests/sensor/test_community.py checks it on the corpus).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_DIGITS = 17  # 62**17 > 2**96: a 12-byte digest has at most 17 base62 digits


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


def flow_uids(flows: pa.Table, salt: str) -> pa.Array:
    """The uid ``wire.flow_uid`` gives each row of ``flows`` (wire.FLOWS names)."""
    return uid_texts(flow_digests(flows, salt))


def flow_digests(flows: pa.Table, salt: str) -> np.ndarray:
    """The 12-byte BLAKE2b digest under each row's uid, [n, 12] uint8 (``flows`` needs ts, proto,
    vlan, ethertype and each end's address, port and MAC)."""
    n = flows.num_rows
    if not n:
        return np.zeros((0, 12), np.uint8)
    col = {name: flows.column(name).combine_chunks() for name in (
        "proto", "vlan", "ethertype", "orig_h", "orig_p", "orig_l2_addr", "resp_h", "resp_p", "resp_l2_addr")}
    a = (col["orig_h"], col["orig_p"], col["orig_l2_addr"])
    b = (col["resp_h"], col["resp_p"], col["resp_l2_addr"])
    a_text, b_text = _end(*a), _end(*b)
    a_low = _less_or_equal(a, b)
    low, high = pc.if_else(a_low, a_text, b_text), pc.if_else(a_low, b_text, a_text)
    start = _text(flows.column("ts").combine_chunks().cast(pa.int64()))
    src = pc.binary_join_element_wise(pa.scalar(salt), col["proto"], _text(col["vlan"]), _text(col["ethertype"]),
                                      start, low, high, "|").cast(pa.binary())
    offsets = np.frombuffer(src.buffers()[1], np.int32, n + 1, src.offset * 4)
    data = memoryview(src.buffers()[2] or b"")
    blake = hashlib.blake2b
    return np.frombuffer(b"".join(blake(data[lo:hi], digest_size=12).digest()
                                  for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist())),
                         np.uint8).reshape(n, 12)


def uid_texts(digests: np.ndarray) -> pa.Array:
    """"C" + base62 (no leading zeros; "0" for zero) of each big-endian 12-byte digest."""
    n = len(digests)
    limbs = digests.reshape(n, 3, 4).astype(np.uint64)
    limbs = (limbs[:, :, 0] << 24) | (limbs[:, :, 1] << 16) | (limbs[:, :, 2] << 8) | limbs[:, :, 3]
    digits = np.zeros((n, _DIGITS), np.uint8)
    for k in range(_DIGITS - 1, -1, -1):  # long division by 62, least significant digit first
        rest = np.zeros(n, np.uint64)
        for j in range(3):
            cur = (rest << np.uint64(32)) | limbs[:, j]
            limbs[:, j], rest = cur // np.uint64(62), cur % np.uint64(62)
        digits[:, k] = rest
    lead = np.minimum(np.argmax(digits != 0, axis=1), _DIGITS - 1)  # keep one digit of zero
    text = _BASE62[digits]
    width = _DIGITS - lead
    out = np.full((n, _DIGITS + 1), 0, np.uint8)
    out[:, 0] = ord("C")
    cols = np.arange(_DIGITS)
    src_idx = np.minimum(lead[:, None] + cols[None, :], _DIGITS - 1)
    out[:, 1:] = np.where(cols[None, :] < width[:, None], np.take_along_axis(text, src_idx, axis=1), 0)
    lengths = width + 1
    keep = np.arange(_DIGITS + 1)[None, :] < lengths[:, None]
    data = out[keep]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))
