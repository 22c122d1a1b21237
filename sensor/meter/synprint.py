"""SYN fingerprint stage: the OS family a TCP SYN's IP and TCP headers suggest (``decode.tcpfp``),
as a low-confidence fact about its source address, with the p0f-style signature beside it.

SYNs (SYN without ACK) are chosen in numpy; only the first of each source address in an interval
reaches Python, so a port scan or a busy client costs one vectorised pass. Facts are by IP: the
sender's MAC may be a router's.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from sensor.decode import packet as pk
from sensor.decode import tcpfp
from sensor.decode.spec import MALFORMED
from sensor.meter.flows import SEC, Placed, ip_text
from sensor.meter.rows import Facts

SYN, ACK = 0x02, 0x10
CONF_OS = 30  # a default stack's look, which anyone can change
SOURCE = "tcpfp"


def first_per_source(p: pk.Packets, idx: np.ndarray) -> np.ndarray:
    """The packets ``idx`` (in capture order, at least one) that are their source's first, in capture order: a
    stable sort by address puts each source's first packet at the head of its run (``np.unique(rows,
    axis=0)`` costs 35-80 us a call for the few SYNs a chunk has, 3 ms for 3,000)."""
    sources = (p.src_lo[idx], p.src_hi[idx], p.ipver[idx])
    order = np.lexsort(sources)
    head = np.zeros(len(idx), np.bool_)
    head[0] = True
    for column in sources:
        ranked = column[order]
        head[1:] |= ranked[1:] != ranked[:-1]
    return idx[np.sort(order[head])]


class SynPrints:
    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()  # malformed SYNs, this interval
        self._seen: set[tuple[int, int, int]] = set()  # (IP version, address halves) this interval
        self._facts = Facts()

    def packets(self, p: pk.Packets, placed: Placed, buf: np.ndarray, frame_end: np.ndarray) -> None:
        syn = (p.status == pk.OK) & (p.proto == pk.TCP) & (p.frag != pk.FRAG_LATER)
        syn &= (p.tcp_flags & (SYN | ACK)) == SYN
        v6 = np.flatnonzero(syn & (p.ipver != 4))  # no IPv6 extension headers: read from the frames of these only
        syn[v6] = buf[np.minimum(p.l3_off[v6] + 6, len(buf) - 1)] == pk.TCP
        idx = np.flatnonzero(syn)
        if not len(idx):
            return
        for i in first_per_source(p, idx).tolist():
            key = (int(p.ipver[i]), int(p.src_hi[i]), int(p.src_lo[i]))
            if key in self._seen:
                continue
            self._seen.add(key)
            try:
                header = tcpfp.syn_fields(buf[p.l3_off[i] : frame_end[i]].tobytes())
                family, signature = tcpfp.guess(header), tcpfp.signature(header)
            except MALFORMED:
                self.errors[SOURCE] += 1
                continue
            ts, ip = p.ts[i] / SEC, ip_text(*key)
            self._facts.add(ts, "", ip, "os", family, SOURCE, CONF_OS)
            self._facts.add(ts, "", ip, "tcp_signature", signature, SOURCE, CONF_OS)

    def flush(self) -> tuple[list[dict], list[dict], dict[str, int]]:
        errors = dict(self.errors)
        self.errors.clear()
        self._seen.clear()
        return [], self._facts.flush(), errors

    def end(self, uids) -> None:
        """No per-flow state."""
