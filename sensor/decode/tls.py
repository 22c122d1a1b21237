"""TLS and SSLv3 handshakes (RFC 5246, RFC 8446) as Zeek's ssl.log sees them: one "handshake" event
per connection, opened by the ClientHello (server name, offered ALPN, JA3 and JA4 fingerprints)
and completed by the ServerHello (the negotiated version as the status, cipher, chosen ALPN,
JA3S, resumption), the ServerKeyExchange's curve and any clear-text alert. Resumption is the
server taking up the client's session id or ticket (≤ 1.2) or choosing a pre-shared key (1.3, whose
servers echo any legacy session id). A certificate sent in the clear (≤ 1.2) adds the leaf's
subject, issuer, validity, serial, SHA-256 fingerprint and self-signed flag (``sensor.decode.x509``).

The client's JA4 becomes a fact about it and the server name one about the server; the leaf
certificate's subject and issuer become facts about its sender, and a self-signed one naming a
device maker (``sensor.decode.identity``) a vendor fact. Once the peers switch to encryption
(ChangeCipherSpec, application data, a TLS 1.3 ServerHello, or the end of the server's hello
flight) the flow is done. A flow met mid-connection is recognised from its record layer alone:
whole records of valid type, version and length that fill the payload exactly.
"""

from __future__ import annotations

import csv
import struct
from functools import cache

from sensor.decode import identity, tlsprint, x509
from sensor.decode.dns import clean_text
from sensor.decode.spec import MALFORMED, Event, Fact, Protocol, Session
from sensor.decode.tables import data_file

RECORD = struct.Struct(">BHH")  # content type, version, length
CCS, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE = 1, 2, 11, 12, 14
MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext limit
MAX_HANDSHAKE = 1 << 16  # bytes of an unfinished handshake message kept
MAX_ALPN = 8
# extension types read from hellos
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIGNATURES, EXT_ALPN = 0, 10, 11, 13, 16
EXT_PRE_SHARED_KEY, EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 41, 43, 51
VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}
GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448", 256: "ffdhe2048",
          257: "ffdhe3072", 258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192", 0x11EC: "X25519MLKEM768",
          0x6399: "X25519Kyber768Draft00"}
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow", 40: "handshake_failure",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
    112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
}
CONF_FINGERPRINT = 80
CONF_CERTIFICATE = 80
CONF_CERT_VENDOR = 50  # a device's own certificate names its maker
MIN_RECORDS = 2  # whole records that identify a flow met mid-connection
CONF_SERVER_NAME = 50  # one name among the many a shared server may have


@cache
def cipher_names() -> dict[int, str]:
    """Cipher suite value → IANA name (``data/tls_cipher_suites.csv``, Scapy's table)."""
    with data_file("tls_cipher_suites.csv") as f:
        return {int(row["value"], 16): row["name"] for row in csv.DictReader(line for line in f if line[0] != "#")}


def cipher_name(code: int) -> str:
    return cipher_names().get(code, f"0x{code:04x}")


def version_name(code: int) -> str:
    return VERSIONS.get(code, f"0x{code:04x}")


class _Reader:
    """Bounds-checked big-endian reads; running off the end raises ValueError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ValueError("TLS structure truncated")
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def int(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, size: int) -> bytes:
        return self.take(self.int(size))

    def more(self) -> bool:
        return self.pos < len(self.buf)


def _u16s(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


def parse_hello(body: bytes, client: bool) -> tlsprint.Hello:
    r = _Reader(body)
    hello = tlsprint.Hello(r.int(2))
    r.take(32)  # random
    hello.session_id = r.vector(1)
    if client:
        hello.ciphers = _u16s(r.vector(2))
        r.vector(1)  # compression methods
    else:
        hello.ciphers = [r.int(2)]
        r.take(1)
    if r.more():
        extensions = _Reader(r.vector(2))
        while extensions.more():
            kind = extensions.int(2)
            hello.extensions.append(kind)
            _extension(hello, kind, _Reader(extensions.vector(2)), client)
    return hello


def _extension(hello: tlsprint.Hello, kind: int, r: _Reader, client: bool) -> None:
    if kind == EXT_SERVER_NAME and client and r.more():
        names = _Reader(r.vector(2))
        if names.int(1) == 0:  # host_name
            hello.server_name = clean_text(names.vector(2))
    elif kind == EXT_GROUPS and client:
        hello.groups = _u16s(r.vector(2))
    elif kind == EXT_POINT_FORMATS:
        hello.point_formats = list(r.vector(1))
    elif kind == EXT_SIGNATURES and client:
        hello.signature_algorithms = _u16s(r.vector(2))
    elif kind == EXT_ALPN and r.more():
        names = _Reader(r.vector(2))
        while names.more() and len(hello.alpn) < MAX_ALPN:
            hello.alpn.append(names.vector(1))
    elif kind == EXT_SUPPORTED_VERSIONS:
        hello.versions = _u16s(r.vector(1)) if client else [r.int(2)]
    elif kind == EXT_KEY_SHARE and not client and r.more():
        hello.groups = [r.int(2)]


def detect(payload: bytes) -> bool:
    """A handshake record (SSLv3 … TLS 1.3) starting with a ClientHello or ServerHello, or, mid-connection,
    records only (``records``)."""
    hello = (len(payload) >= 9 and payload[0] == HANDSHAKE and payload[1] == 3 and payload[2] <= 4
             and payload[5] in (CLIENT_HELLO, SERVER_HELLO) and int.from_bytes(payload[3:5], "big") >= 4)
    return hello or records(payload)


def records(payload: bytes) -> bool:
    """Whole TLS records (type 20–24, version 3.0–3.3, a length within the limit) filling the payload
    exactly: MIN_RECORDS or more, or one application-data record (random bytes pass for one with a
    chance of about 2⁻³⁶: type, version and a length that ends exactly at the payload's end)."""
    pos = count = 0
    kind = 0
    while pos + RECORD.size <= len(payload):
        kind, version, length = RECORD.unpack_from(payload, pos)
        if not CCS <= kind <= HEARTBEAT or not 0x0300 <= version <= 0x0303 or not 0 < length <= MAX_RECORD:
            return False
        pos += RECORD.size + length
        count += 1
    return pos == len(payload) and (count >= MIN_RECORDS or (count == 1 and kind == APPLICATION_DATA))


def frame(buf: bytes) -> int:
    if len(buf) < RECORD.size:
        return 0
    kind, version, length = RECORD.unpack_from(buf)
    if not CCS <= kind <= HEARTBEAT or version >> 8 != 3 or length > MAX_RECORD:
        raise ValueError("not a TLS record")
    return RECORD.size + length


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    kind, _, length = RECORD.unpack_from(pdu)
    body = pdu[RECORD.size : RECORD.size + length]
    session.services.add("ssl")
    if kind == HANDSHAKE:
        return _handshake(body, is_orig, session)
    if kind == ALERT and len(body) == 2:  # a clear-text alert (encrypted ones are longer)
        event = session.vars.get("event")
        if event is not None:
            event.attrs["last_alert"] = ALERTS.get(body[1], str(body[1]))
    elif kind in (CCS, APPLICATION_DATA):
        session.done = True  # encrypted from here on
    return []


def _handshake(data: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    """Whole handshake messages; a message continued in the next record waits for it."""
    key = "handshake.orig" if is_orig else "handshake.resp"
    data = session.vars.pop(key, b"") + data
    out: list[Event | Fact] = []
    pos = 0
    while pos + 4 <= len(data):
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if pos + 4 + length > len(data):
            if length > MAX_HANDSHAKE:
                raise ValueError("handshake message too long")
            break
        out += _message(data[pos], data[pos + 4 : pos + 4 + length], session)
        pos += 4 + length
    if pos < len(data):
        session.vars[key] = data[pos:]
    return out


def _message(kind: int, body: bytes, session: Session) -> list[Event | Fact]:
    if kind == CLIENT_HELLO:
        return _client_hello(parse_hello(body, client=True), session)
    if kind == SERVER_HELLO:
        return _server_hello(parse_hello(body, client=False), session)
    event = session.vars.get("event")
    if kind == CERTIFICATE:
        return _certificate(body, event, session)
    if kind == SERVER_KEY_EXCHANGE and event is not None and "ECDHE" in str(event.attrs.get("cipher")):
        if body[0] == 3:  # named curve
            event.attrs["curve"] = GROUPS.get(int.from_bytes(body[1:3], "big"), str(int.from_bytes(body[1:3], "big")))
    elif kind == SERVER_HELLO_DONE:
        session.done = True  # the client's key exchange and encrypted Finished follow
    return []


def _client_hello(hello: tlsprint.Hello, session: Session) -> list[Event | Fact]:
    ja4 = tlsprint.ja4(hello)
    attrs = {"server_name": hello.server_name, "client_version": version_name(hello.version),
             "client_alpn": ",".join(clean_text(name, 64) for name in hello.alpn), "ja3": tlsprint.ja3(hello),
             "ja4": ja4}
    session.vars["client_session_id"] = hello.session_id
    out: list[Event | Fact] = [session.ask("hello", Event("handshake", attrs=attrs)),
                               Fact("ja4", ja4, confidence=CONF_FINGERPRINT)]
    if hello.server_name:
        out.append(Fact("tls_server_name", hello.server_name, about_sender=False, confidence=CONF_SERVER_NAME))
    return out


def _server_hello(hello: tlsprint.Hello, session: Session) -> list[Event | Fact]:
    out: list[Event | Fact] = []
    event = session.answer("hello")
    if event is None:  # ClientHello not seen in this interval
        event = Event("handshake")
        out.append(event)
    session.vars["event"] = event
    version = hello.versions[0] if hello.versions else hello.version
    event.status = version_name(version)
    client_id = session.vars.get("client_session_id", b"")
    event.attrs.update(cipher=cipher_name(hello.ciphers[0]), alpn=clean_text(hello.alpn[0], 64) if hello.alpn else "",
                       ja3s=tlsprint.ja3s(hello), resumed="true" if _resumed(hello, version, client_id) else "")
    if hello.groups:
        event.attrs["curve"] = GROUPS.get(hello.groups[0], str(hello.groups[0]))
    if version == 0x0304:
        session.done = True  # everything after the ServerHello is encrypted
    return out


def _resumed(hello: tlsprint.Hello, version: int, client_session_id: bytes) -> bool:
    """TLS 1.3 resumes when the server selects a pre-shared key; earlier versions when the server
    takes up the session id the client offered."""
    if version == 0x0304:
        return EXT_PRE_SHARED_KEY in hello.extensions
    return bool(client_session_id) and client_session_id == hello.session_id


def _certificate(body: bytes, event: Event | None, session: Session) -> list[Event | Fact]:
    """The leaf of a Certificate message (a 24-bit list length, then 24-bit-length DER certificates)."""
    chain, pos = [], 3
    while pos + 3 <= len(body):
        length = int.from_bytes(body[pos : pos + 3], "big")
        chain.append(body[pos + 3 : pos + 3 + length])
        pos += 3 + length
    if not chain:
        return []
    try:
        cert = x509.parse(chain[0])
    except MALFORMED:
        session.malformed += 1  # the rest of the handshake is still worth reading
        return []
    if event is not None:
        event.attrs.update(cert_subject=cert.subject, cert_issuer=cert.issuer, cert_serial=cert.serial,
                           cert_not_before=cert.not_before.isoformat(), cert_not_after=cert.not_after.isoformat(),
                           cert_fingerprint=cert.fingerprint, cert_chain_length=len(chain),
                           cert_self_signed="true" if cert.self_signed else "", san_dns=",".join(cert.san_dns))
    out: list[Event | Fact] = [Fact("tls_cert_subject", cert.subject, confidence=CONF_CERTIFICATE),
                               Fact("tls_cert_issuer", cert.issuer, confidence=CONF_CERTIFICATE)]
    if cert.self_signed:
        out.append(Fact("tls_cert_self_signed", "true", confidence=CONF_CERTIFICATE))
        vendor = identity.vendor_named(cert.parts.get("O", "")) or identity.vendor_named(cert.parts.get("CN", ""))
        if vendor:
            out.append(Fact("vendor", vendor, confidence=CONF_CERT_VENDOR))
    return out


PROTOCOL = Protocol("ssl", frozenset({"tcp"}), frozenset({443, 465, 636, 853, 993, 995, 4843, 5061, 8443, 8883}),
                    detect, decode, frame)
