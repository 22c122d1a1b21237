"""Community ID v1 (seed 0) of many flows at once, from their columns.

The hash input of each flow (seed, the two endpoints in canonical order, protocol, padding, and
the ports for TCP, UDP, SCTP, ICMP and ICMPv6) is packed for all rows by one compiled loop; only the
SHA-1 itself runs per row (hashlib, over ready bytes), and base64 is again done in bulk. ICMP and ICMPv6
follow Zeek (and the ``communityid`` package): the ports are type and code, except that a type with
a reply type (echo, timestamp, router/neighbour solicitation, …) pairs with that type and may be
flipped like ports; other types are one-way and keep their order.

Addresses come as [n, 16] uint8 arrays in network byte order, an IPv4 address in the last four
bytes; ``words_to_bytes`` and ``text_to_bytes`` build them from the sensor's and the wire's forms.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import socket

import numpy as np
import pyarrow as pa

from sensor.jit import njit
from sensor.wire.compute import pc

ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
PORT_PROTOCOLS = (ICMP, TCP, UDP, ICMP6, SCTP)  # _hash_inputs spells these out too (has_ports)
NAMED_PROTOCOLS = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "icmp6": ICMP6}

_ICMP_PAIRS = {0: 8, 8: 0, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135,
                139: 140, 140: 139, 144: 145, 145: 144}


def _pair_table(pairs: dict[int, int]) -> np.ndarray:
    """type → paired type, -1 where the type is one-way (int16: made at import, 128 KiB, where int64 was 512)."""
    table = np.full(65536, -1, np.int16)
    table[list(pairs)] = list(pairs.values())
    return table


_ICMP_PAIR = _pair_table(_ICMP_PAIRS)
_ICMP6_PAIR = _pair_table(_ICMP6_PAIRS)


def words_to_bytes(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """[n, 16] network-order addresses from the high and low 64 bits (an IPv4 address in ``lo``)."""
    words = np.stack([np.asarray(hi, np.uint64), np.asarray(lo, np.uint64)], axis=1).astype(">u8")
    return words.view(np.uint8).reshape(len(words), 16)


def text_to_bytes(addresses: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """([n, 16] addresses, [n] is-IPv6) of a string column, parsing each distinct address once (and once a
    process while it stays among the last 16,384: a batch's slices name the same hosts). An empty or
    unparsable address is all zeros (the L2 flows' empty host)."""
    encoded = pc.dictionary_encode(addresses)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    words = encoded.dictionary.to_pylist() or [""]  # an all-null column has no entry for its nulls to name
    packed = np.frombuffer(b"".join(_packed(text or "") for text in words), np.uint8).reshape(len(words), 17)
    rows = packed[encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)]
    return rows[:, :16], rows[:, 16] != 0


@functools.lru_cache(maxsize=1 << 14)
def _packed(text: str) -> bytes:
    """An address as 16 bytes in network order (IPv4 in the last four; zeros if unparsable), then 1 if IPv6."""
    raw = _pton(text)
    return raw.rjust(16, b"\0") + (b"\1" if len(raw) == 16 else b"\0")


def _pton(text: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except OSError:
        return b""


def protocol_numbers(names: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """IP protocol numbers of the wire's ``proto`` names (tcp, udp, icmp, icmp6, a number; 0 for l2)."""
    encoded = pc.dictionary_encode(names)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    numbers = np.array([NAMED_PROTOCOLS.get(n) or (int(n) if n and n.isdigit() and int(n) < 256 else 0)
                        for n in encoded.dictionary.to_pylist()] or [0], np.int64)
    return numbers[encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)]


def community_ids(proto: np.ndarray, v6: np.ndarray, orig: np.ndarray, resp: np.ndarray,
                  orig_p: np.ndarray, resp_p: np.ndarray) -> list[str]:
    """Community ID v1 (seed 0) of each flow; "" where ``proto`` is 0 (an L2 flow)."""
    return community_id_array(proto, v6, orig, resp, orig_p, resp_p).to_pylist()


def community_id_array(proto: np.ndarray, v6: np.ndarray, orig: np.ndarray, resp: np.ndarray,
                       orig_p: np.ndarray, resp_p: np.ndarray) -> pa.StringArray:
    """``community_ids`` as an Arrow string array (no Python string per flow)."""
    return render(community_digests(proto, v6, orig, resp, orig_p, resp_p), np.asarray(proto) != 0)


def community_digests(proto: np.ndarray, v6: np.ndarray, orig: np.ndarray, resp: np.ndarray,
                      orig_p: np.ndarray, resp_p: np.ndarray) -> np.ndarray:
    """The SHA-1 digest under each flow's Community ID, [n, 21] uint8 (a zero byte after the 20, for
    ``render``); zeros where ``proto`` is 0."""
    proto, v6 = np.ascontiguousarray(proto, np.int64), np.ascontiguousarray(v6, np.bool_)
    orig, resp = np.ascontiguousarray(orig, np.uint8), np.ascontiguousarray(resp, np.uint8)
    orig_p, resp_p = np.ascontiguousarray(orig_p, np.int64), np.ascontiguousarray(resp_p, np.int64)
    n = len(proto)  # _hash_inputs checks no bounds
    if orig.shape != (n, 16) or resp.shape != (n, 16) or not len(v6) == len(orig_p) == len(resp_p) == n:
        raise ValueError(f"community_digests: {n} protocols but addresses {orig.shape} / {resp.shape}, "
                         f"{len(v6)} families, ports {len(orig_p)} / {len(resp_p)}")
    data, sizes = _hash_inputs(proto, v6, orig, resp, orig_p, resp_p, _ICMP_PAIR, _ICMP6_PAIR)
    digests = np.zeros((len(sizes), 21), np.uint8)  # 20 bytes of SHA-1, one zero byte to make whole base64 groups
    rows = np.flatnonzero(sizes)
    if len(rows):
        blob, sha1 = memoryview(data.reshape(-1)), hashlib.sha1
        digests[rows, :20] = np.frombuffer(b"".join(sha1(blob[i * _INPUT : i * _INPUT + size]).digest()
                                                    for i, size in zip(rows.tolist(), sizes[rows].tolist())),
                                           np.uint8).reshape(-1, 20)
    return digests


_INPUT = 40  # bytes of the longest hash input: seed, two IPv6 addresses, protocol, padding, two ports


@njit(cache=True)
def _hash_inputs(proto, v6, orig, resp, orig_p, resp_p, icmp_pair, icmp6_pair):
    """Each flow's SHA-1 input (seed 0, the endpoints in canonical order: the smaller address first, or the
    smaller port when the addresses are equal; protocol, padding, the ports where the protocol has them) in
    a row of _INPUT bytes, and its size (0 where ``proto`` is 0)."""
    n = len(proto)
    data = np.zeros((n, _INPUT), np.uint8)
    sizes = np.zeros(n, np.int64)
    for i in range(n):
        p = proto[i]
        if p == 0:
            continue
        sport, dport = orig_p[i], resp_p[i]
        one_way = False
        if p == ICMP or p == ICMP6:
            paired = (icmp_pair if p == ICMP else icmp6_pair)[sport & 0xFFFF]
            if paired < 0:
                one_way = True
            else:
                dport = np.int64(paired)
        has_ports = p == ICMP or p == TCP or p == UDP or p == ICMP6 or p == SCTP
        first = 0
        while first < 16 and orig[i, first] == resp[i, first]:
            first += 1
        if first < 16:
            keep = one_way or orig[i, first] < resp[i, first]
        else:
            keep = one_way or (has_ports and sport < dport)
        lo, hi = (orig, resp) if keep else (resp, orig)
        lo_port, hi_port = (sport, dport) if keep else (dport, sport)
        width = 16 if v6[i] else 4
        at = 2  # the seed's two zero bytes
        for k in range(16 - width, 16):
            data[i, at] = lo[i, k]
            data[i, at + width] = hi[i, k]
            at += 1
        at += width
        data[i, at] = np.uint8(p & 0xFF)
        at += 2  # and a zero byte of padding
        if has_ports:
            data[i, at], data[i, at + 1] = np.uint8((lo_port >> 8) & 0xFF), np.uint8(lo_port & 0xFF)
            data[i, at + 2], data[i, at + 3] = np.uint8((hi_port >> 8) & 0xFF), np.uint8(hi_port & 0xFF)
            at += 4
        sizes[i] = at
    return data, sizes


def render(digests: np.ndarray, present: np.ndarray) -> pa.StringArray:
    """"1:" + base64 of each 20-byte digest (the 21st byte is zero), "" where not ``present``. The rows'
    21 bytes are whole base64 groups, so the base64 of all of them is each row's one after the other
    (binascii: no per-sextet arrays, which were ~340 bytes a row at once)."""
    n = len(digests)
    text = np.empty((n, 30), np.uint8)
    text[:, 0], text[:, 1] = ord("1"), ord(":")
    if n:
        text[:, 2:] = np.frombuffer(binascii.b2a_base64(np.ascontiguousarray(digests, np.uint8), newline=False),
                                    np.uint8).reshape(n, 28)
    text[:, 29] = ord("=")  # the zero byte's sextet: the padding of a 20-byte digest
    present = np.asarray(present, np.bool_)
    offsets = np.concatenate([[0], np.cumsum(np.where(present, 30, 0))]).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text if present.all() else text[present]))
