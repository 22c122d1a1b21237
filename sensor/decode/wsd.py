"""WS-Discovery (SOAP over UDP, udp/3702), which ONVIF cameras and recorders answer: one event per
message (Probe, ProbeMatches, Hello, Bye, Resolve, ResolveMatches) with its types, scopes and
XAddrs (the device's service URLs).

An announcing or answering device describes itself in its ONVIF scopes
(``onvif://www.onvif.org/<key>/<value>``): hardware → model, name → device name, location →
location, and its device type (NetworkVideoTransmitter, NetworkVideoStorage, or the type scopes)
→ role camera or NVR. A match goes from the device's port to the prober's, so it is a flow of
its own and stands alone.
"""

from __future__ import annotations

from sensor.decode import soap
from sensor.decode.spec import Event, Fact, Protocol, Session

NAMESPACES = (b"schemas.xmlsoap.org/ws/2005/04/discovery", b"docs.oasis-open.org/ws-dd/ns/discovery/")
ONVIF_SCOPE = "onvif://www.onvif.org/"
SCOPE_FACTS = {"hardware": "model", "name": "device_name", "location": "location"}
# words of a device type or type scope → role
ROLES = (("networkvideostorage", "nvr"), ("network_video_storage", "nvr"), ("nvr", "nvr"),
         ("networkvideotransmitter", "camera"), ("video_encoder", "camera"), ("ptz", "camera"))
MAX_SCOPES = 32
CONF_SCOPE = 80  # set by the device's owner or maker; may be stale


def detect(payload: bytes) -> bool:
    head = payload[:8].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"<" and any(ns in payload for ns in NAMESPACES)


def role(types: list[str], scopes: list[str]) -> str:
    words = [t.rsplit(":", 1)[-1].lower() for t in types]
    words += [s[len(ONVIF_SCOPE) + 5 :].lower() for s in scopes if s.lower().startswith(ONVIF_SCOPE + "type/")]
    for word in words:
        for key, value in ROLES:
            if key == word:
                return value
    return ""


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    action = soap.element(pdu, "Action").rsplit("/", 1)[-1]
    if not action:
        raise ValueError("WS-Discovery message without an action")
    session.services.add("ws-discovery")
    types = soap.words(soap.element(pdu, "Types"))
    scopes = soap.words(soap.element(pdu, "Scopes"))[:MAX_SCOPES]
    event = Event(action, attrs={"types": " ".join(types), "scopes": " ".join(scopes),
                                 "xaddrs": soap.element(pdu, "XAddrs")})
    out: list[Event | Fact] = [event]
    if action in ("Probe", "Resolve"):
        return out  # the prober's wishes, not a description of itself
    for scope in scopes:
        if scope.lower().startswith(ONVIF_SCOPE):
            key, _, value = scope[len(ONVIF_SCOPE) :].partition("/")
            attribute = SCOPE_FACTS.get(key.lower())
            if attribute and value:
                out.append(Fact(attribute, value, confidence=CONF_SCOPE))
    device_role = role(types, scopes)
    if device_role:
        out.append(Fact("role", device_role, confidence=CONF_SCOPE))
    return out


PROTOCOL = Protocol("ws-discovery", frozenset({"udp"}), frozenset({3702}), detect, decode)
