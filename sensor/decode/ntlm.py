"""NTLMSSP messages (MS-NLMP §2.2) carried in SMB, HTTP or other security blobs, read for the
names and OS version they announce. A CHALLENGE names the server (NetBIOS and DNS computer and
domain names, Windows version); an AUTHENTICATE names the client's workstation. User names and
responses are never read.
"""

from __future__ import annotations

import struct

SIGNATURE = b"NTLMSSP\x00"
CHALLENGE, AUTHENTICATE = 2, 3
NEGOTIATE_VERSION = 0x02000000
# AV pair ids of a CHALLENGE's target info → fact attributes
AV_FACTS = {1: "netbios_name", 2: "netbios_domain", 3: "hostname", 4: "domain"}
MAX_AV_PAIRS = 32


def _field(msg: bytes, offset: int) -> bytes:
    """A (length, max length, offset) security buffer of the message."""
    length, _, start = struct.unpack_from("<HHI", msg, offset)
    value = msg[start : start + length]
    if len(value) != length:
        raise ValueError("NTLM field out of the message")
    return value


def _text(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace").strip("\x00 ")


def facts(blob: bytes) -> list[tuple[str, str]]:
    """(attribute, value) facts about the sender of the first NTLMSSP message in ``blob``."""
    start = blob.find(SIGNATURE)
    if start < 0:
        return []
    msg = blob[start:]
    kind = struct.unpack_from("<I", msg, 8)[0]
    out: list[tuple[str, str]] = []
    if kind == CHALLENGE:
        flags = struct.unpack_from("<I", msg, 20)[0]
        info, pos = _field(msg, 40), 0
        for _ in range(MAX_AV_PAIRS):
            av_id, length = struct.unpack_from("<HH", info, pos)
            if av_id == 0:  # MsvAvEOL
                break
            if av_id in AV_FACTS:
                value = _text(info[pos + 4 : pos + 4 + length])
                if value:
                    out.append((AV_FACTS[av_id], value))
            pos += 4 + length
        if flags & NEGOTIATE_VERSION:
            major, minor, build = struct.unpack_from("<BBH", msg, 48)
            if build:  # Samba sends 6.1 build 0
                out.append(("os", f"Windows NT {major}.{minor} build {build}"))
    elif kind == AUTHENTICATE:
        workstation = _text(_field(msg, 44))
        if workstation:
            out.append(("netbios_name", workstation))
    return out
