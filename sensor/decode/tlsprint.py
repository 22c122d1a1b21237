"""TLS hello fingerprints: JA3 and JA3S (Salesforce, BSD-3-Clause) and JA4 (FoxIO, BSD-3-Clause),
from the published specifications. JA4S and the rest of JA4+ are under the FoxIO License, which
restricts commercial use, so they are not computed.

JA3 = md5("version,ciphers,extensions,groups,point formats"), decimal values joined by "-", GREASE
values left out; JA3S = md5("version,cipher,extensions"). JA4 = t|q|d, the highest offered
version, d/i (SNI or not), counts of ciphers and extensions, the first ALPN value's first and last
characters, then truncated SHA-256 of the sorted ciphers and of the sorted extensions (without SNI
and ALPN) followed by the signature algorithms in their order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

SNI, ALPN = 0x0000, 0x0010
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
                0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}


def is_grease(value: int) -> bool:
    """RFC 8701 reserved values: 0x0A0A, 0x1A1A … 0xFAFA."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


@dataclass(slots=True)
class Hello:
    """What a ClientHello or ServerHello says (a ServerHello's lists hold its one choice)."""

    version: int  # the legacy version field
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)  # types, in order
    groups: list[int] = field(default_factory=list)  # supported_groups; a ServerHello's key_share group
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    alpn: list[bytes] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # supported_versions
    server_name: str = ""
    session_id: bytes = b""


def _dashed(values: list[int]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3(hello: Hello) -> str:
    text = ",".join((str(hello.version), _dashed(hello.ciphers), _dashed(hello.extensions), _dashed(hello.groups),
                     _dashed(hello.point_formats)))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def ja3s(hello: Hello) -> str:
    text = ",".join((str(hello.version), _dashed(hello.ciphers), _dashed(hello.extensions)))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _hash12(items: list[str]) -> str:
    return hashlib.sha256(",".join(items).encode()).hexdigest()[:12] if items else "000000000000"


def _alpn_chars(alpn: list[bytes]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    first, last = alpn[0][0], alpn[0][-1]
    if bytes((first, last)).isalnum():  # ASCII letters and digits only
        return chr(first) + chr(last)
    return f"{first:02x}"[0] + f"{last:02x}"[1]  # not alphanumeric: the hex digits instead


def ja4(hello: Hello, transport: str = "t") -> str:
    """``transport`` is "t" (TLS over TCP), "q" (QUIC) or "d" (DTLS)."""
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    offered = [v for v in hello.versions if not is_grease(v)]
    version = JA4_VERSIONS.get(max(offered) if offered else hello.version, "00")
    head = (f"{transport}{version}{'d' if SNI in extensions else 'i'}{min(len(ciphers), 99):02d}"
            f"{min(len(extensions), 99):02d}{_alpn_chars(hello.alpn)}")
    cipher_hash = _hash12(sorted(f"{c:04x}" for c in ciphers))
    listed = sorted(f"{e:04x}" for e in extensions if e not in (SNI, ALPN))
    signatures = [f"{s:04x}" for s in hello.signature_algorithms if not is_grease(s)]
    if listed and signatures:
        text = ",".join(listed) + "_" + ",".join(signatures)
        extension_hash = hashlib.sha256(text.encode()).hexdigest()[:12]
    else:
        extension_hash = _hash12(listed)
    return f"{head}_{cipher_hash}_{extension_hash}"
