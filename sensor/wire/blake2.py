"""BLAKE2b (RFC 7693, unkeyed) of many short messages at once, compiled with numba.

``digests(data, offsets, size)`` hashes each message ``data[offsets[i]:offsets[i + 1]]`` to ``size``
bytes in one compiled loop that lets go of the GIL: the same bytes as ``hashlib.blake2b(message,
digest_size=size)`` (tests/sensor/test_blake2.py checks it on every flow record of the plant and
the corpus, and on lengths around every block boundary), without a Python call per message.
"""

from __future__ import annotations

import numpy as np

from sensor.jit import njit

_IV = np.array([
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
], np.uint64)
_SIGMA = np.array([
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
], np.int64)
_BLOCK = 128


@njit(cache=True, inline="always")
def _rotr(x, n):
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@njit(cache=True, inline="always")
def _g(a, b, c, d, x, y):
    a = a + b + x
    d = _rotr(d ^ a, 32)
    c = c + d
    b = _rotr(b ^ c, 24)
    a = a + b + y
    d = _rotr(d ^ a, 16)
    c = c + d
    b = _rotr(b ^ c, 63)
    return a, b, c, d


@njit(cache=True, inline="always")
def _compress(h, data, at, m, counted, last, iv, sigma):
    """Mix the 128-byte block at ``data[at:]`` into the state ``h`` (``counted``: message bytes
    so far, this block's included)."""
    for i in range(16):
        w = np.uint64(0)
        for k in range(8):
            w |= np.uint64(data[at + 8 * i + k]) << np.uint64(8 * k)
        m[i] = w
    v0, v1, v2, v3, v4, v5, v6, v7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    v8, v9, v10, v11 = iv[0], iv[1], iv[2], iv[3]
    v12 = iv[4] ^ np.uint64(counted)  # messages here are far below 2**64 bytes: the high word stays 0
    v13 = iv[5]
    v14 = ~iv[6] if last else iv[6]
    v15 = iv[7]
    for r in range(12):
        s = sigma[r % 10]
        v0, v4, v8, v12 = _g(v0, v4, v8, v12, m[s[0]], m[s[1]])
        v1, v5, v9, v13 = _g(v1, v5, v9, v13, m[s[2]], m[s[3]])
        v2, v6, v10, v14 = _g(v2, v6, v10, v14, m[s[4]], m[s[5]])
        v3, v7, v11, v15 = _g(v3, v7, v11, v15, m[s[6]], m[s[7]])
        v0, v5, v10, v15 = _g(v0, v5, v10, v15, m[s[8]], m[s[9]])
        v1, v6, v11, v12 = _g(v1, v6, v11, v12, m[s[10]], m[s[11]])
        v2, v7, v8, v13 = _g(v2, v7, v8, v13, m[s[12]], m[s[13]])
        v3, v4, v9, v14 = _g(v3, v4, v9, v14, m[s[14]], m[s[15]])
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


@njit(cache=True, nogil=True)
def _digests(data, offsets, size, iv, sigma):
    n = len(offsets) - 1
    out = np.empty((n, size), np.uint8)
    h = np.empty(8, np.uint64)
    m = np.empty(16, np.uint64)
    tail = np.empty(_BLOCK, np.uint8)
    for row in range(n):
        lo, hi = offsets[row], offsets[row + 1]
        for i in range(8):
            h[i] = iv[i]
        h[0] ^= np.uint64(0x01010000) ^ np.uint64(size)  # fanout 1, depth 1, no key, digest size
        pos = lo
        while hi - pos > _BLOCK:  # every block but the last, which is compressed as the last
            _compress(h, data, pos, m, pos + _BLOCK - lo, False, iv, sigma)
            pos += _BLOCK
        tail[:] = 0
        tail[:hi - pos] = data[pos:hi]
        _compress(h, tail, 0, m, hi - lo, True, iv, sigma)
        for k in range(size):
            out[row, k] = np.uint8((h[k // 8] >> np.uint64(8 * (k % 8))) & np.uint64(0xFF))
    return out


def digests(data: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """[n, size] uint8: the BLAKE2b digest of each of the n messages ``data[offsets[i]:offsets[i+1]]``
    (``data`` uint8, ``offsets`` n + 1 integers); ``size`` 1..64."""
    if not 1 <= size <= 64:
        raise ValueError(f"a BLAKE2b digest has 1..64 bytes, not {size}")
    return _digests(data, offsets.astype(np.int64, copy=False), size, _IV, _SIGMA)
