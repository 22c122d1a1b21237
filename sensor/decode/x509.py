"""X.509 certificates (RFC 5280) as TLS ≤ 1.2 servers send them in the clear: the fields Zeek's
x509.log gives, read with the BER reader (``sensor.decode.ber``) — no signature check, no
extension beyond the subject alternative names and basic constraints.

Names print as Zeek (OpenSSL's RFC 2253 form) prints them: the most specific part first
(``CN=…,O=…,C=…``), special characters escaped. ``self_signed`` means the issuer is the subject
(a self-issued certificate, as devices make for themselves on first boot); the signature is not
verified. A malformed certificate raises ValueError or IndexError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sensor.decode.ber import INTEGER, OCTET_STRING, OID, SEQUENCE, Reader, oid_text
from sensor.decode.dns import clean_text

SET, UTC_TIME, GENERALIZED_TIME, BOOLEAN = 0x31, 0x17, 0x18, 0x01
VERSION_TAG, EXTENSIONS_TAG = 0xA0, 0xA3
DNS_NAME, IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7], implicit
SUBJECT_ALT_NAME, BASIC_CONSTRAINTS = "2.5.29.17", "2.5.29.19"
ATTRIBUTES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O",
              "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.17": "postalCode", "2.5.4.4": "SN",
              "2.5.4.42": "GN", "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
              "0.9.2342.19200300.100.1.1": "UID"}
STRING_CODECS = {0x0C: "utf-8", 0x13: "latin-1", 0x16: "latin-1", 0x14: "latin-1", 0x1A: "latin-1",
                 0x1E: "utf-16-be", 0x1C: "utf-32-be"}
MAX_NAMES = 16  # subject alternative names kept
_ESCAPED = {ch: "\\" + ch for ch in ',+"\\<>;'}


@dataclass(slots=True)
class Certificate:
    subject: str
    issuer: str
    serial: str  # upper-case hex, as Zeek prints it
    not_before: datetime
    not_after: datetime
    self_signed: bool
    fingerprint: str  # SHA-256 of the DER bytes (Zeek's fingerprint)
    version: int = 1
    parts: dict[str, str] = field(default_factory=dict)  # the subject's first value per attribute (CN, O …)
    san_dns: list[str] = field(default_factory=list)
    ca: bool | None = None  # basic constraints, None when absent


def _text(tag: int, value: bytes) -> str:
    codec = STRING_CODECS.get(tag)
    if codec is None:
        return "#" + value.hex()
    return value.decode(codec, "replace")


def _escape(value: str) -> str:
    out = "".join(_ESCAPED.get(ch, ch) for ch in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    return out[:-1] + "\\ " if out.endswith(" ") and len(out) > 1 else out


def _name(raw: bytes) -> tuple[str, dict[str, str]]:
    """A Name (RDNSequence) → (its RFC 2253 text, the first value of each attribute)."""
    rdns, parts = [], {}
    sequence = Reader(raw)
    while sequence.more():
        members = Reader(sequence.expect(SET))
        printed = []
        while members.more():
            pair = Reader(members.expect(SEQUENCE))
            oid = oid_text(pair.expect(OID))
            tag, value = pair.read()
            key, text = ATTRIBUTES.get(oid, oid), _text(tag, value)
            parts.setdefault(key, clean_text(text.encode()))
            printed.append(f"{key}={_escape(text)}")
        rdns.append("+".join(printed))
    return ",".join(reversed(rdns)), parts


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == UTC_TIME:
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != GENERALIZED_TIME:
        raise ValueError("not a certificate time")
    if not text.endswith("Z") or len(text) < 15:
        raise ValueError("certificate time without seconds or not in UTC")
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def _extensions(raw: bytes, cert: Certificate) -> None:
    extensions = Reader(Reader(raw).expect(SEQUENCE))
    while extensions.more():
        extension = Reader(extensions.expect(SEQUENCE))
        oid = oid_text(extension.expect(OID))
        tag, value = extension.read()
        if tag == BOOLEAN:  # critical
            tag, value = extension.read()
        if tag != OCTET_STRING:
            raise ValueError("extension value is not an OCTET STRING")
        if oid == SUBJECT_ALT_NAME:
            names = Reader(Reader(value).expect(SEQUENCE))
            while names.more() and len(cert.san_dns) < MAX_NAMES:
                kind, name = names.read()
                if kind == DNS_NAME:
                    cert.san_dns.append(clean_text(name))
        elif oid == BASIC_CONSTRAINTS:
            fields = Reader(Reader(value).expect(SEQUENCE))
            tag, flag = fields.read() if fields.more() else (0, b"")
            cert.ca = tag == BOOLEAN and flag not in (b"", b"\x00")


def parse(der: bytes) -> Certificate:
    tbs = Reader(Reader(Reader(der).expect(SEQUENCE)).expect(SEQUENCE))
    tag, value = tbs.read()
    version = 1
    if tag == VERSION_TAG:
        version = Reader(value).integer() + 1
        tag, value = tbs.read()
    if tag != INTEGER:
        raise ValueError("certificate serial number missing")
    serial = value.lstrip(b"\x00").hex().upper() or "00"
    tbs.expect(SEQUENCE)  # signature algorithm
    issuer_raw = tbs.expect(SEQUENCE)
    validity = Reader(tbs.expect(SEQUENCE))
    not_before, not_after = _time(*validity.read()), _time(*validity.read())
    subject_raw = tbs.expect(SEQUENCE)
    tbs.expect(SEQUENCE)  # subject public key info
    (issuer, _), (subject, parts) = _name(issuer_raw), _name(subject_raw)
    cert = Certificate(subject, issuer, serial, not_before, not_after, issuer_raw == subject_raw,
                       hashlib.sha256(der).hexdigest(), version, parts)
    while tbs.more():
        tag, value = tbs.read()
        if tag == EXTENSIONS_TAG:
            _extensions(value, cert)
    return cert
