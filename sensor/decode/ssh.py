"""SSH (RFC 4253) as Zeek's ssh.log sees it: the identification banners and the algorithms both
sides' KEXINIT messages negotiate, plus the HASSH client and server fingerprints (Salesforce,
BSD-3-Clause: md5 of "kex;encryption;mac;compression" as offered).

One "handshake" event per connection, opened by the first banner and completed as the rest
arrives; banners become software facts (and an OS fact when the banner names a distribution).
Everything after the key exchange is encrypted, so the flow is done once both KEXINITs are seen.
"""

from __future__ import annotations

import hashlib
import struct

from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

KEXINIT = 20
MAX_BANNER = 255  # RFC 4253 §4.2
MAX_PACKET = 35000  # RFC 4253 §6.1
MAX_PDUS = 16  # a flow that has not finished its key exchange by then is given up
# name-lists of a KEXINIT, in order
LISTS = ("kex", "host_key", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "compression_c2s", "compression_s2c")
# banner comment word → OS
OS_WORDS = (("ubuntu", "Ubuntu"), ("debian", "Debian"), ("raspbian", "Raspbian"), ("freebsd", "FreeBSD"),
            ("for_windows", "Windows"))
CONF_SOFTWARE = 80
CONF_OS = 50


def detect(payload: bytes) -> bool:
    return payload.startswith((b"SSH-2.0-", b"SSH-1.99-", b"SSH-1.5-"))


def frame(buf: bytes) -> int:
    if buf.startswith(b"SSH-"):
        end = buf.find(b"\n", 0, MAX_BANNER + 1)
        if end < 0 and len(buf) > MAX_BANNER:
            raise ValueError("SSH banner too long")
        return end + 1
    if len(buf) < 5:
        return 0
    length = struct.unpack_from(">I", buf)[0]
    if not 5 <= length <= MAX_PACKET or buf[4] >= length:
        raise ValueError("not an SSH binary packet")
    return 4 + length


def kexinit(payload: bytes) -> dict[str, list[str]]:
    """The name-lists of a KEXINIT payload (message type, 16-byte cookie, then the lists)."""
    if payload[0] != KEXINIT:
        raise ValueError("not a KEXINIT")
    pos, lists = 17, {}
    for name in LISTS:
        (length,) = struct.unpack_from(">I", payload, pos)
        text = payload[pos + 4 : pos + 4 + length]
        if len(text) != length:
            raise ValueError("KEXINIT truncated")
        lists[name] = text.decode("ascii", "replace").split(",") if text else []
        pos += 4 + length
    return lists


def hassh(lists: dict[str, list[str]], side: str) -> str:
    """HASSH of the client (side "c2s") or HASSH-Server (side "s2c")."""
    text = ";".join(",".join(lists[name]) for name in ("kex", f"cipher_{side}", f"mac_{side}", f"compression_{side}"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _chosen(client: list[str], server: list[str]) -> str:
    """RFC 4253 §7.1: the first of the client's algorithms that the server also offers."""
    return next((name for name in client if name in server), "")


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    session.services.add("ssh")
    if session.count("pdus") >= MAX_PDUS:
        session.done = True
    event: Event | None = session.vars.get("event")
    out: list[Event | Fact] = []
    if event is None:
        event = session.vars["event"] = Event("handshake")
        out.append(event)
    if pdu.startswith(b"SSH-"):
        banner = clean_text(pdu, MAX_BANNER)
        event.attrs["client" if is_orig else "server"] = banner
        event.attrs["version"] = "1" if banner.startswith("SSH-1.5-") else "2"
        software = banner.split("-", 2)[-1]
        out.append(Fact("client_software" if is_orig else "software", software, confidence=CONF_SOFTWARE))
        lowered = software.lower()
        out += [Fact("os", name, confidence=CONF_OS) for word, name in OS_WORDS if word in lowered][:1]
        return out
    padding = pdu[4]
    if pdu[5:6] != bytes((KEXINIT,)):
        return out
    lists = kexinit(pdu[5 : len(pdu) - padding])
    session.vars["kex.orig" if is_orig else "kex.resp"] = lists
    event.attrs["hassh" if is_orig else "hassh_server"] = hassh(lists, "c2s" if is_orig else "s2c")
    client, server = session.vars.get("kex.orig"), session.vars.get("kex.resp")
    if client and server:
        event.attrs.update(
            kex_alg=_chosen(client["kex"], server["kex"]), host_key_alg=_chosen(client["host_key"], server["host_key"]),
            cipher_alg=_chosen(client["cipher_c2s"], server["cipher_c2s"]),
            mac_alg=_chosen(client["mac_c2s"], server["mac_c2s"]),
            compression_alg=_chosen(client["compression_c2s"], server["compression_c2s"]))
        session.done = True  # NEWKEYS follows: the rest is encrypted
    return out


PROTOCOL = Protocol("ssh", frozenset({"tcp"}), frozenset({22, 2222}), detect, decode, frame)
