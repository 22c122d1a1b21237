"""What the compiled decoders' scans decide of a TCP segment before reading it."""

from __future__ import annotations

from sensor.jit import njit

TAKE, SKIP, ASIDE = 0, 1, 2  # read it; a pure retransmission; for Python (overlap or capture-truncated)
SEQ_MASK = 0xFFFFFFFF


@njit(cache=True, _nrt=False)
def segment(next_seq, seq, off, length, end):
    """A segment of ``length`` bytes at ``off`` (captured up to ``end``) with sequence number ``seq``,
    where the direction's next expected one is ``next_seq`` (-1: none yet): in sequence or after a
    gap, the kernel reads it as Python's Stream would."""
    if next_seq >= 0:
        delta = (seq - next_seq) & SEQ_MASK
        if delta >= 1 << 31:
            delta -= 1 << 32
        if delta < 0:
            return SKIP if length + delta <= 0 else ASIDE
    return TAKE if min(off + length, end) - off == length else ASIDE
