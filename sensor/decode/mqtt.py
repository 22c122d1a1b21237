"""MQTT 3.1, 3.1.1 and 5.0 over TCP: connections, subscriptions and the topics published to, with
Zeek's mqtt_connect/publish/subscribe logs as the model.

A CONNECT is answered by its CONNACK (the status is Zeek's ``connect_status``); it keeps the
client id, the protocol name and version, the will topic and whether a user name and a password
were sent, never their values (a password in clear sets ``cleartext_credentials``). A PUBLISH
keeps its topic, QoS, retain flag, direction and payload length, never the payload; QoS 1 and 2
messages are answered by their PUBACK or PUBREC. SUBSCRIBE and UNSUBSCRIBE keep their topic
filters and are answered by SUBACK (with the granted QoS) or UNSUBACK. Keep-alives and the
later steps of QoS 2 are not events.
"""

from __future__ import annotations

import struct

from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session
from sensor.decode.stream import whole_pdus

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
FIXED_FLAGS = {CONNECT: 0, CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBSCRIBE: 2, SUBACK: 0,
               UNSUBSCRIBE: 2, UNSUBACK: 0, PINGREQ: 0, PINGRESP: 0, DISCONNECT: 0, AUTH: 0}
EMPTY = frozenset({PINGREQ, PINGRESP})
PROTOCOL_NAMES = (b"MQTT", b"MQIsdp")
VERSIONS = {3: "3.1", 4: "3.1.1", 5: "5.0"}
QOS = ("at most once", "at least once", "exactly once")
CONNECT_STATUS = {  # 3.1/3.1.1 return codes (Zeek's names), then 5.0 reason codes
    0: "Connection Accepted", 1: "Refused: unacceptable protocol version", 2: "Refused: identifier rejected",
    3: "Refused: server unavailable", 4: "Refused: bad user name or password", 5: "Refused: not authorized",
    0x80: "Unspecified error", 0x84: "Unsupported protocol version", 0x85: "Client identifier not valid",
    0x86: "Bad user name or password", 0x87: "Not authorized", 0x88: "Server unavailable", 0x8A: "Banned",
    0x8C: "Bad authentication method",
}
V5 = 5
MAX_REMAINING = 1 << 20  # larger PDUs are not MQTT a sensor should buffer
MAX_TOPICS = 8  # listed in a subscribe event
MAX_GRANTED = 256  # return codes of a subscribe answer listed (3 digits and a comma each at most: < 1,024 characters)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A variable byte integer at ``pos``: (value, position after it); IndexError if incomplete."""
    value = 0
    for shift in range(0, 28, 7):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("MQTT variable byte integer longer than 4 bytes")


def frame(buf: bytes) -> int:
    if len(buf) < 2:
        return 0
    kind, flags = buf[0] >> 4, buf[0] & 0x0F
    if kind == 0 or FIXED_FLAGS.get(kind, flags) != flags:
        raise ValueError("not an MQTT fixed header")
    try:
        remaining, pos = _varint(buf, 1)
    except IndexError:
        return 0
    if remaining > MAX_REMAINING:
        raise ValueError("MQTT packet too large")
    return pos + remaining


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">H", buf, pos)
    value = buf[pos + 2 : pos + 2 + length]
    if len(value) != length:
        raise ValueError("MQTT string truncated")
    return value, pos + 2 + length


def _plausible(packet: bytes) -> bool:
    kind = packet[0] >> 4
    body = packet[_varint(packet, 1)[1] :]
    if kind == CONNECT:
        return _string(body, 0)[0] in PROTOCOL_NAMES
    if kind == CONNACK:
        return len(body) >= 2 and body[0] <= 1
    if kind == PUBLISH:
        topic = _string(body, 0)[0]
        return bool(topic) and clean_text(topic) == topic.decode("utf-8", "replace")
    return not body if kind in EMPTY else True


def detect(payload: bytes) -> bool:
    """Whole MQTT packets, the first a CONNECT, CONNACK or PUBLISH with a printable topic."""
    try:
        return whole_pdus(payload, frame, _plausible) and payload[0] >> 4 in (CONNECT, CONNACK, PUBLISH)
    except (IndexError, struct.error):
        return False


def _skip_properties(body: bytes, pos: int, session: Session) -> int:
    if session.vars.get("level") != V5:
        return pos
    length, pos = _varint(body, pos)
    return pos + length


def _connect(body: bytes, session: Session) -> list[Event | Fact]:
    name, pos = _string(body, 0)
    level, flags, keep_alive = struct.unpack_from(">BBH", body, pos)
    session.vars["level"] = level
    pos = _skip_properties(body, pos + 4, session)
    client_id, pos = _string(body, pos)
    attrs: dict[str, object] = {"proto_name": clean_text(name), "proto_version": VERSIONS.get(level, str(level)),
                                "client_id": clean_text(client_id), "keep_alive": keep_alive,
                                "clean_session": "true" if flags & 0x02 else ""}
    if flags & 0x04:  # will: properties (5.0), topic, payload
        pos = _skip_properties(body, pos, session)
        attrs["will_topic"] = clean_text(_string(body, pos)[0])
    attrs["username"] = "true" if flags & 0x80 else ""  # present: the name itself is not kept
    if flags & 0x40:
        attrs["password"] = attrs["cleartext_credentials"] = "true"
    out: list[Event | Fact] = [session.ask(CONNECT, Event("connect", attrs=attrs))]
    if attrs["client_id"]:
        out.append(Fact("mqtt_client_id", str(attrs["client_id"])))
    return out


def _publish(flags: int, body: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    qos = (flags >> 1) & 3
    if qos > 2:
        raise ValueError("MQTT QoS 3")
    topic, pos = _string(body, 0)
    packet_id = struct.unpack_from(">H", body, pos)[0] if qos else None
    pos = _skip_properties(body, pos + (2 if qos else 0), session)
    event = Event("publish", "" if qos else "OK", {
        "topic": clean_text(topic), "qos": QOS[qos], "retain": "true" if flags & 1 else "",
        "from_client": "true" if is_orig else "false", "payload_len": len(body) - pos})
    return [session.ask((PUBLISH, is_orig, packet_id), event) if qos else event]


def _subscribe(kind: int, body: bytes, session: Session) -> list[Event | Fact]:
    (packet_id,) = struct.unpack_from(">H", body)
    pos = _skip_properties(body, 2, session)
    topics, levels = [], []
    while pos < len(body) and len(topics) < MAX_TOPICS:
        topic, pos = _string(body, pos)
        topics.append(clean_text(topic))
        if kind == SUBSCRIBE:
            levels.append(str(body[pos] & 3))
            pos += 1
    attrs = {"topics": ",".join(topics), "qos_levels": ",".join(levels)}
    name = "subscribe" if kind == SUBSCRIBE else "unsubscribe"
    return [session.ask((kind, packet_id), Event(name, attrs=attrs))]


def _answer(key: object, name: str, attrs: dict[str, object], session: Session) -> list[Event | Fact]:
    """The request ``key`` answered with status "OK" (or the request not seen: a new event)."""
    event = session.answer(key)
    if event is None:
        return [Event(name, "OK", attrs)]
    event.status = "OK"
    event.attrs.update(attrs)
    return []


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    kind, flags = pdu[0] >> 4, pdu[0] & 0x0F
    body = pdu[_varint(pdu, 1)[1] :]
    session.services.add("mqtt")
    if kind == CONNECT:
        return _connect(body, session)
    if kind == CONNACK:
        code = body[1]
        event = session.answer(CONNECT)
        out: list[Event | Fact] = []
        if event is None:
            event = Event("connect")
            out.append(event)
        event.status = CONNECT_STATUS.get(code, f"unknown-0x{code:02x}")
        return out
    if kind == PUBLISH:
        return _publish(flags, body, is_orig, session)
    if kind in (PUBACK, PUBREC):
        return _answer((PUBLISH, not is_orig, struct.unpack_from(">H", body)[0]), "publish", {}, session)
    if kind in (SUBSCRIBE, UNSUBSCRIBE):
        return _subscribe(kind, body, session)
    if kind == SUBACK:
        (packet_id,) = struct.unpack_from(">H", body)
        granted = body[_skip_properties(body, 2, session) :]
        return _answer((SUBSCRIBE, packet_id), "subscribe", {"granted_qos": ",".join(map(str, granted[:MAX_GRANTED]))}, session)
    if kind == UNSUBACK:
        return _answer((UNSUBSCRIBE, struct.unpack_from(">H", body)[0]), "unsubscribe", {}, session)
    return []


PROTOCOL = Protocol("mqtt", frozenset({"tcp"}), frozenset({1883}), detect, decode, frame)
