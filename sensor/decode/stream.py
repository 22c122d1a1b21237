"""PDU framing: cut one direction of a TCP stream into whole PDUs.

A ``Stream`` keeps the bytes of an unfinished PDU, bounded by MAX_BUFFER. Segments must arrive in
sequence order: a retransmitted or overlapping segment contributes only its new bytes, and a gap
(lost or uncaptured data) drops the unfinished PDU and resynchronises on the next segment, which
is taken to start a PDU. A frame function returns the length of the PDU at the start of a buffer,
0 while its header is incomplete, and raises ValueError when the bytes are not a PDU header.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_BUFFER = 1 << 16
Frame = Callable[[bytes], int]


def whole_pdus(payload: bytes, frame: Frame, plausible: Callable[[bytes], bool] = lambda pdu: True) -> bool:
    """Is ``payload`` one or more whole PDUs, each of them ``plausible``? (A detector's test.)"""
    pos = 0
    while pos < len(payload):
        try:
            n = frame(payload[pos:])
        except ValueError:
            return False
        if n == 0 or pos + n > len(payload) or not plausible(payload[pos : pos + n]):
            return False
        pos += n
    return pos > 0


def cut(data: bytes, frame: Frame) -> tuple[list[bytes], bytes]:
    """Whole PDUs at the start of ``data`` and the unfinished rest."""
    pdus = []
    while data:
        n = frame(data)
        if n <= 0 or n > len(data):
            if n > MAX_BUFFER:
                raise ValueError(f"PDU of {n} bytes exceeds the reassembly limit")
            break
        pdus.append(data[:n])
        data = data[n:]
    return pdus, data


class Stream:
    __slots__ = ("buf", "next_seq")

    def __init__(self) -> None:
        self.buf = b""
        self.next_seq: int | None = None

    def push(self, seq: int, data: bytes, length: int, frame: Frame) -> list[bytes]:
        """Whole PDUs completed by a segment; ``length`` is its payload length per the headers
        (``data`` may be shorter when the capture truncated it). On a framing error the
        unfinished PDU is dropped and the error raised."""
        if self.next_seq is not None:
            delta = (seq - self.next_seq) & 0xFFFFFFFF
            delta = delta - (1 << 32) if delta >= 1 << 31 else delta
            if delta > 0:  # gap
                self.buf = b""
            elif delta < 0:  # retransmission or overlap: keep the new bytes only
                if length + delta <= 0:
                    return []
                seq, data, length = self.next_seq, data[-delta:], length + delta
        self.next_seq = (seq + length) & 0xFFFFFFFF
        try:
            if not self.buf and len(data) == length and frame(data) == length:
                return [data]  # the common case: one whole PDU per segment
            pdus, rest = cut(self.buf + data, frame)
        except ValueError:
            self.buf = b""
            raise
        self.buf = rest if len(data) >= length else b""  # a truncated segment's tail is lost
        return pdus
