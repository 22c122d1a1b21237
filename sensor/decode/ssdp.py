"""SSDP, UPnP discovery over UDP (UPnP Device Architecture 2.0 §1): M-SEARCH queries, NOTIFY
announcements and search responses, one event each with the search or notification target
(ST/NT), USN, LOCATION and SERVER/USER-AGENT.

A response goes to the searcher's port from the device's, so it is a flow of its own and stands
alone. An announcer's SERVER header ("OS/version UPnP/1.0 product/version") gives software and OS
facts (and vendor facts when the product is a known banner: ``sensor.decode.identity``) and its
device type (urn:…:device:<type>:<v>) an ``upnp_device`` fact.
"""

from __future__ import annotations

import re

from sensor.decode import identity, textproto
from sensor.decode.spec import Event, Fact, Protocol, Session

_REQUEST_LINE = re.compile(rb"(?:M-SEARCH|NOTIFY) \* HTTP/1\.[01]\r?\n")
_RESPONSE_LINE = re.compile(rb"HTTP/1\.[01] 200 ")
_SEARCH_HEADER = re.compile(rb"\r\n(?:ST|USN)[ \t]*:", re.IGNORECASE)
_DEVICE_TYPE = re.compile(r"^urn:[^:]+:device:([^:]+):\d+$")
CONF_SOFTWARE = 60
CONF_OS = 50  # what the device says its OS is


def detect(payload: bytes) -> bool:
    """A search or an announcement (on any port: Plex and others use M-SEARCH elsewhere), or a
    search response, which carries ST and USN headers."""
    if _REQUEST_LINE.match(payload):
        return True
    return _RESPONSE_LINE.match(payload) is not None and _SEARCH_HEADER.search(payload) is not None


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    msg = textproto.parse(pdu, b"HTTP/")
    session.services.add("ssdp")
    location, leaked = textproto.redact(msg.header("location"))
    target = msg.header("st") or msg.header("nt")
    attrs = {"target": target, "usn": msg.header("usn"), "location": location, "server": msg.header("server"),
             "user_agent": msg.header("user-agent"), "nts": msg.header("nts"), "mx": msg.header("mx")}
    if leaked:
        attrs["cleartext_credentials"] = "true"
    event = Event(msg.method or "response", str(msg.status) if msg.status else "", attrs)
    out: list[Event | Fact] = [event]
    software = msg.header("server") or msg.header("user-agent")
    if software:
        out.append(Fact("software", software, confidence=CONF_SOFTWARE))
        parts = software.split()
        if len(parts) == 3 and parts[1].upper().startswith("UPNP/"):
            out.append(Fact("os", parts[0].replace("/", " "), confidence=CONF_OS))
            out += identity.banner_facts("server", parts[2])
    device = _DEVICE_TYPE.match(target)
    if device and msg.method != "M-SEARCH":  # a searcher asks for a type; others announce theirs
        out.append(Fact("upnp_device", device[1]))
    return out


PROTOCOL = Protocol("ssdp", frozenset({"udp"}), frozenset({1900}), detect, decode)
