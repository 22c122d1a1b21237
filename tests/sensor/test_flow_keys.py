"""Flow keys are SipHash-1-3 under a secret drawn per flow table: a sender cannot choose addresses
that land on another flow's key or crowd the slot index, and the records do not depend on the secret."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from cpython_hash import cpython_hashes
from numba import njit

from sensor import simulate
from sensor.capture.pcapfile import iter_frames
from sensor.decode import packet as pk
from sensor.decode.fast import siphash
from sensor.meter import flows
from sensor.meter.pipeline import iter_intervals

M64 = (1 << 64) - 1


def _reference(k0: int, k1: int, words: list[int]) -> int:
    """SipHash-1-3 as the paper gives it, over the words' little-endian bytes."""
    rotl = lambda x, b: ((x << b) | (x >> (64 - b))) & M64  # noqa: E731

    def rounds(v: list[int], n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & M64; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)  # noqa: E702
            v[2] = (v[2] + v[3]) & M64; v[3] = rotl(v[3], 16) ^ v[2]  # noqa: E702
            v[0] = (v[0] + v[3]) & M64; v[3] = rotl(v[3], 21) ^ v[0]  # noqa: E702
            v[2] = (v[2] + v[1]) & M64; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)  # noqa: E702

    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    for m in [*words, (8 * len(words) & 0xFF) << 56]:
        v[3] ^= m
        rounds(v, 1)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(v, 3)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


@njit
def hash_words(k0, k1, words):
    """SipHash-1-3 of ``words`` (uint64) laid out as little-endian bytes, from the flow table's pieces."""
    v = siphash.start(k0, k1)
    for w in words:
        v = siphash.absorb(v, w)
    return siphash.finish(v, len(words))


def test_siphash_is_siphash_1_3():
    rng = random.Random(7)
    for n in range(9):
        k0, k1, words = rng.getrandbits(64), rng.getrandbits(64), [rng.getrandbits(64) for _ in range(n)]
        got = hash_words(np.uint64(k0), np.uint64(k1), np.array(words, np.uint64))
        assert int(got) == _reference(k0, k1, words), n


def test_siphash_equals_cpythons_own():
    """CPython hashes bytes with SipHash-1-3, its key all zeros when PYTHONHASHSEED is 0."""
    messages = [np.random.default_rng(n).integers(0, 2**63, n, np.int64).astype(np.uint64) for n in range(1, 9)]
    ours = [int(hash_words(np.uint64(0), np.uint64(0), m)) for m in messages]
    assert cpython_hashes([m.tobytes() for m in messages]) == ours


def _keys(path: Path, secret: tuple) -> list[int]:
    out = []
    for frames in iter_frames(path):
        p = pk.decode(frames)
        key, side = np.zeros(len(p.ts), np.uint64), np.zeros(len(p.ts), np.uint8)
        flows._keys(p, key, side, *secret)
        out += key[p.status != pk.MALFORMED].tolist()
    return out


def test_keys_follow_the_secret_and_records_do_not(tmp_path):
    pcap = tmp_path / "plant.pcap"
    simulate.write_pcap(pcap, packets=20_000, seed=4)
    one, other = _keys(pcap, siphash.secret()), _keys(pcap, siphash.secret())
    assert len(one) == len(other) > 19_000
    assert not set(one) & set(other)  # 64-bit keys under another secret: no key in common
    assert len(set(one)) == len(set(other))  # the same flows either way
    records = [[iv.flows for iv in iter_intervals([pcap], 10.0, protocols=())] for _ in range(2)]
    assert len(records[0]) > 1 and all(a.equals(b) for a, b in zip(*records, strict=True))
