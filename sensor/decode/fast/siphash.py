"""SipHash-1-3 (Aumasson and Bernstein; the variant Python's ``hash`` and Rust's HashMap use) over
64-bit words, for the flow table's keys, and over bytes, for the compiled EtherNet/IP path's tag names
(here, under the decoders, so that both layers reach it).

A flow's key decides which slot its packets are counted on and where the slot index looks first, and
the packets' addresses are the sender's to choose: with a public hash an attacker can make flows share
a key (their packets counted on someone else's flow) or crowd one region of the index (every lookup
then walks it); so too with tag names, which a client chooses. Keyed with a secret drawn per table,
the keys cannot be predicted, only guessed.
"""

from __future__ import annotations

import os

import numpy as np

from sensor.jit import njit


def secret() -> tuple[np.uint64, np.uint64]:
    """A fresh 128-bit key."""
    k0, k1 = np.frombuffer(os.urandom(16), np.uint64)
    return np.uint64(k0), np.uint64(k1)


@njit(cache=True, inline="always")
def _rotl(x, b):
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


@njit(cache=True, inline="always")
def _round(v0, v1, v2, v3):
    v0 += v1
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16) ^ v2
    v0 += v3
    v3 = _rotl(v3, 21) ^ v0
    v2 += v1
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


@njit(cache=True, inline="always")
def start(k0, k1):
    """The state after the key, before the message."""
    return (k0 ^ np.uint64(0x736F6D6570736575), k1 ^ np.uint64(0x646F72616E646F6D),
            k0 ^ np.uint64(0x6C7967656E657261), k1 ^ np.uint64(0x7465646279746573))


@njit(cache=True, inline="always")
def absorb(v, m):
    """One 8-byte message block (the word, little-endian) into the state."""
    v0, v1, v2, v3 = v
    v3 ^= m
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ m, v1, v2, v3


@njit(cache=True, inline="always")
def finish(v, words):
    """The hash of a message of ``words`` 8-byte blocks absorbed into ``v``."""
    return _final(v, np.uint64((8 * words) & 0xFF) << np.uint64(56))


@njit(cache=True, inline="always")
def _final(v, last):
    """The hash once the message's last block (its length in the top byte, any bytes left below)."""
    v0, v1, v2, v3 = absorb(v, last)
    v2 ^= np.uint64(0xFF)
    for _ in range(3):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(cache=True, _nrt=False)
def hash_bytes(k0, k1, s, o, n):
    """SipHash-1-3 of the bytes s[o:o+n] (``s`` uint8)."""
    v, whole = start(k0, k1), o + (n & ~7)
    for i in range(o, whole, 8):
        word = np.uint64(0)
        for j in range(8):
            word |= np.uint64(s[i + j]) << np.uint64(8 * j)
        v = absorb(v, word)
    last = np.uint64(n & 0xFF) << np.uint64(56)
    for j in range(n & 7):
        last |= np.uint64(s[whole + j]) << np.uint64(8 * j)
    return _final(v, last)
