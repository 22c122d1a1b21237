"""OPC UA binary (UA TCP, IEC 62541-6): connection and secure channel set-up, then services.

Hello names the endpoint URL (a fact about the server); OpenSecureChannel names the security policy
and, when not encrypted, the security mode; each service request of an unencrypted channel
(GetEndpoints, CreateSession, Read, Write, Call …) is an event answered by the response with the
same request id, its status the response's service result. Messages of a channel with a security
policy other than None are taken to be encrypted: counted by the flow record only.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session
from sensor.decode.stream import whole_pdus

MESSAGE_TYPES = frozenset({b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"})
CHUNK_TYPES = frozenset(b"FCA")
SECURITY_MODES = {1: "None", 2: "Sign", 3: "SignAndEncrypt"}
ENCRYPTED = 3
# binary encoding ids of the service messages: request id → name (its response is id + 3)
SERVICES = {
    422: "FindServers", 428: "GetEndpoints", 437: "RegisterServer", 446: "OpenSecureChannel",
    452: "CloseSecureChannel", 461: "CreateSession", 467: "ActivateSession", 473: "CloseSession", 479: "Cancel",
    488: "AddNodes", 494: "AddReferences", 500: "DeleteNodes", 506: "DeleteReferences", 527: "Browse",
    533: "BrowseNext", 554: "TranslateBrowsePathsToNodeIds", 560: "RegisterNodes", 566: "UnregisterNodes",
    615: "QueryFirst", 621: "QueryNext", 631: "Read", 664: "HistoryRead", 673: "Write", 700: "HistoryUpdate",
    712: "Call", 751: "CreateMonitoredItems", 763: "ModifyMonitoredItems", 769: "SetMonitoringMode",
    775: "SetTriggering", 781: "DeleteMonitoredItems", 787: "CreateSubscription", 793: "ModifySubscription",
    799: "SetPublishingMode", 826: "Publish", 832: "Republish", 841: "TransferSubscriptions",
    847: "DeleteSubscriptions",
}
RESPONSES = {request + 3: name for request, name in SERVICES.items()}
SERVICE_FAULT = 397
OPEN_SECURE_CHANNEL = 446


def frame(buf: bytes) -> int:
    """Message header: type, chunk type, total size."""
    if len(buf) < 8:
        return 0
    if buf[:3] not in MESSAGE_TYPES or buf[3] not in CHUNK_TYPES:
        raise ValueError("not an OPC UA message header")
    size = struct.unpack_from("<I", buf, 4)[0]
    if size < 8:
        raise ValueError("OPC UA message size too small")
    return size


def detect(payload: bytes) -> bool:
    """Whole UA TCP messages; the first of a connection is usually Hello (or a reverse Hello)."""
    return whole_pdus(payload, frame)


class _Reader:
    """Little-endian reads of UA binary built-in types."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        if len(out) != n:
            raise ValueError("OPC UA field truncated")
        self.pos += n
        return out

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def bytes_(self) -> bytes:
        """String or ByteString: int32 length (-1 = null), then the bytes."""
        length = struct.unpack("<i", self.take(4))[0]
        return b"" if length < 0 else self.take(length)

    def node_id(self) -> int:
        """A NodeId's numeric identifier (-1 for string, GUID or opaque ids)."""
        encoding = self.take(1)[0]
        kind = encoding & 0x0F
        if kind == 0:
            value = self.take(1)[0]
        elif kind == 1:
            value = struct.unpack("<xH", self.take(3))[0]
        elif kind == 2:
            value = struct.unpack("<HI", self.take(6))[1]
        elif kind in (3, 5):
            self.take(2)
            self.bytes_()
            value = -1
        elif kind == 4:
            self.take(18)
            value = -1
        else:
            raise ValueError(f"unknown NodeId encoding 0x{encoding:02x}")
        if encoding & 0x80:  # expanded: namespace URI
            self.bytes_()
        if encoding & 0x40:  # expanded: server index
            self.take(4)
        return value


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    kind, chunk = pdu[:3], pdu[3]
    reader = _Reader(pdu, 8)
    session.services.add("opcua")
    if kind == b"HEL":  # protocol version, 4 buffer limits, endpoint URL
        reader.take(20)
        url = reader.bytes_().decode("utf-8", errors="replace")
        event = Event("Hello", protocol="opcua", attrs={"endpoint_url": url})
        return [session.ask("hello", event), Fact("opcua_endpoint", url, about_sender=False)]
    if kind == b"ACK":
        event = session.answer("hello")
        if event is not None:
            event.status = "OK"
        return []
    if kind == b"ERR":
        code = reader.u32()
        reason = reader.bytes_().decode("utf-8", errors="replace")
        return [Event("Error", status=f"0x{code:08x}", protocol="opcua", attrs={"reason": reason})]
    if kind == b"OPN":  # channel id, policy URI, sender certificate, receiver thumbprint
        reader.take(4)
        policy = reader.bytes_().decode("utf-8", errors="replace")
        reader.bytes_()
        reader.bytes_()
        if policy.endswith("#None"):
            return _service(reader, chunk, is_orig, session, {"security_policy": policy})
        session.vars["mode"] = ENCRYPTED  # the rest is encrypted (a Sign-only channel is taken for one)
        if is_orig:
            return [session.ask("open", Event("OpenSecureChannel", protocol="opcua", attrs={"security_policy": policy}))]
        event = session.answer("open")
        if event is not None:
            event.status = "OK"
        return []
    if kind == b"MSG" or kind == b"CLO":  # channel id, token id
        reader.take(8)
        if session.vars.get("mode") == ENCRYPTED:
            return []
        return _service(reader, chunk, is_orig, session, {})
    return []  # reverse hello


def _service(reader: _Reader, chunk: int, is_orig: bool, session: Session, attrs: dict) -> list[Event | Fact]:
    """Sequence header, then (in the first chunk of a message) the service's type id and body."""
    reader.take(4)
    request_id = reader.u32()
    key = f"chunk{int(is_orig)}"
    follows = session.vars.get(key) == request_id  # a later chunk of a chunked message
    session.vars[key] = request_id if chunk == ord("C") else None
    if follows:
        return []
    type_id = reader.node_id()
    if type_id in SERVICES:
        if type_id == OPEN_SECURE_CHANNEL and attrs.get("security_policy", "").endswith("#None"):
            mode = _security_mode(reader)
            session.vars["mode"] = mode
            attrs["security_mode"] = SECURITY_MODES.get(mode, str(mode))
        event = Event(SERVICES[type_id], protocol="opcua", attrs={"service_id": type_id, **attrs})
        return [session.ask(("request", request_id), event)]
    if type_id not in RESPONSES and type_id != SERVICE_FAULT:
        return []  # a service this decoder does not know, or an encrypted body
    event = session.answer(("request", request_id))
    out: list[Event | Fact] = []
    if event is None:
        event = Event(RESPONSES.get(type_id, "ServiceFault"), protocol="opcua", attrs={"service_id": type_id - 3, **attrs})
        out.append(event)
    reader.take(12)  # response header: timestamp, request handle
    result = reader.u32()
    event.status = "OK" if result == 0 else f"0x{result:08x}"
    return out


def _security_mode(reader: _Reader) -> int:
    """OpenSecureChannel request after its RequestHeader: protocol version, request type, mode."""
    reader.node_id()  # authentication token
    reader.take(16)  # timestamp, request handle, return diagnostics
    reader.bytes_()  # audit entry id
    reader.take(4)  # timeout hint
    reader.node_id()  # additional header: type id, encoding, body
    if reader.take(1)[0] & 0x01:
        reader.bytes_()
    return struct.unpack("<III", reader.take(12))[2]


PROTOCOL = Protocol("opcua", frozenset({"tcp"}), frozenset({4840}), detect, decode, frame)
