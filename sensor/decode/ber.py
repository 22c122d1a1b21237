"""Definite-length BER (X.690), as SNMP, GOOSE and MMS encode their PDUs: a reader of tag,
length, value triples and the OID text form."""

from __future__ import annotations

SEQUENCE, INTEGER, OCTET_STRING, NULL, OID = 0x30, 0x02, 0x04, 0x05, 0x06


class Reader:
    """Reads the triples of one constructed value; reading off the end raises ValueError or
    IndexError. A tag in the high-number form is returned as all its bytes (0xBF48: [72])."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def more(self) -> bool:
        return self.pos < len(self.buf)

    def read(self) -> tuple[int, bytes]:
        tag, pos = self.buf[self.pos], self.pos + 1
        if tag & 0x1F == 0x1F:  # high tag number: base-128 bytes, the last without bit 8
            for _ in range(4):
                byte = self.buf[pos]
                tag, pos = tag << 8 | byte, pos + 1
                if not byte & 0x80:
                    break
            else:
                raise ValueError("BER tag too long")
        first, pos = self.buf[pos], pos + 1
        if first & 0x80:
            size = first & 0x7F
            if not 0 < size <= 4:
                raise ValueError("unsupported BER length")
            length = int.from_bytes(self.buf[pos : pos + size], "big")
            pos += size
        else:
            length = first
        if pos + length > len(self.buf):
            raise ValueError("BER value runs past its container")
        self.pos = pos + length
        return tag, self.buf[pos : pos + length]

    def expect(self, tag: int) -> bytes:
        got, value = self.read()
        if got != tag:
            raise ValueError(f"BER tag {got:#x}, expected {tag:#x}")
        return value

    def integer(self) -> int:
        return int.from_bytes(self.expect(INTEGER), "big", signed=True)

    def fields(self) -> dict[int, bytes]:
        """The remaining triples by tag (the first of a repeated tag)."""
        out: dict[int, bytes] = {}
        while self.more():
            tag, value = self.read()
            out.setdefault(tag, value)
        return out


def oid_text(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty OID")
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))
