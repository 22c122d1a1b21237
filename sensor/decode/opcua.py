"""OPC UA binary (UA TCP, IEC 62541-6): connection and secure channel set-up, then services.

Hello names the endpoint URL (a fact about the server); OpenSecureChannel names the security policy
and, when not encrypted, the security mode; each service request of an unencrypted channel
(GetEndpoints, CreateSession, Read, Write, Call …) is an event answered by the response with the
same request id, its status the response's service result. What a server says of itself becomes
facts: the application description in GetEndpoints and CreateSession answers (and in a
FindServers answer that names one server), and the build information (manufacturer, product name,
software version, product URI) that a Read of the Server's ServerStatus or BuildInfo variables
returns. Messages of a channel with a security policy other than None are taken to be encrypted:
counted by the flow record only.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import MAX_PENDING, Event, Fact, Protocol, Session, salvage
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
FIND_SERVERS, GET_ENDPOINTS, CREATE_SESSION, READ = 422, 428, 461, 631
# Server object variables (namespace 0) that state what the server is: ServerStatus, its BuildInfo
# and BuildInfo's fields
SERVER_STATUS, BUILD_INFO = 2256, 2260
BUILD_INFO_FIELDS = {2262: "opcua_product_uri", 2263: "vendor", 2261: "product", 2264: "software"}
BUILD_INFO_ORDER = ("opcua_product_uri", "vendor", "product", "software")  # BuildInfo's first four strings
VALUE_ATTRIBUTE = 13
STRING, LOCALIZED_TEXT, EXTENSION_OBJECT = 12, 21, 22  # Variant built-in type ids
MAX_ARRAY = 64  # array elements read, at most
CONF_APPLICATION = 60  # an application's name for a product: anything else says more


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

    def count(self) -> int:
        """An array's length (-1, null, reads as 0), bounded."""
        n = struct.unpack("<i", self.take(4))[0]
        if n > MAX_ARRAY:
            raise ValueError("OPC UA array too long to read")
        return max(n, 0)

    def text(self) -> str:
        return self.bytes_().decode("utf-8", errors="replace")

    def localized_text(self) -> str:
        mask = self.take(1)[0]
        if mask & 0x01:
            self.bytes_()  # locale
        return self.text() if mask & 0x02 else ""

    def diagnostic_info(self) -> None:
        mask = self.take(1)[0]
        self.take(4 * bin(mask & 0x0F).count("1"))  # symbolic id, namespace, localized text, locale
        if mask & 0x10:
            self.bytes_()  # additional info
        if mask & 0x20:
            self.take(4)  # inner status code
        if mask & 0x40:
            self.diagnostic_info()

    def extension_object(self) -> bytes:
        """An ExtensionObject's binary body (b"" when it has none or is XML)."""
        self.node_id()
        encoding = self.take(1)[0]
        body = self.bytes_() if encoding in (1, 2) else b""
        return body if encoding == 1 else b""

    def response_header(self) -> int:
        """ResponseHeader: timestamp, request handle, service result (returned), diagnostics,
        string table, additional header."""
        self.take(12)
        result = self.u32()
        self.diagnostic_info()
        for _ in range(self.count()):
            self.bytes_()
        self.extension_object()
        return result

    def application(self) -> dict[str, str]:
        """ApplicationDescription: URI, product URI, name, type, gateway and discovery profile
        URIs, discovery URLs."""
        app = {"opcua_application_uri": self.text(), "opcua_product_uri": self.text(),
               "opcua_application": self.localized_text()}
        self.take(4)
        self.bytes_()
        self.bytes_()
        for _ in range(self.count()):
            self.bytes_()
        return app

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
        elif type_id == READ:
            _remember_read(reader, request_id, session)
        event = Event(SERVICES[type_id], protocol="opcua", attrs={"service_id": type_id, **attrs})
        return [session.ask(("request", request_id), event)]
    if type_id not in RESPONSES and type_id != SERVICE_FAULT:
        return []  # a service this decoder does not know, or an encrypted body
    event = session.answer(("request", request_id))
    out: list[Event | Fact] = []
    if event is None:
        event = Event(RESPONSES.get(type_id, "ServiceFault"), protocol="opcua", attrs={"service_id": type_id - 3, **attrs})
        out.append(event)
    result = reader.response_header()
    event.status = "OK" if result == 0 else f"0x{result:08x}"
    nodes = session.vars.get("reads", {}).pop(request_id, None)
    if result == 0 and type_id - 3 in (FIND_SERVERS, GET_ENDPOINTS, CREATE_SESSION, READ):
        out += salvage(session, _server_facts, reader, type_id - 3, nodes)
    return out


def _remember_read(reader: _Reader, request_id: int, session: Session) -> None:
    """A Read request of the Server's status or build information: its node ids, in order, to
    read the response's values by (None for the nodes of no interest)."""
    reader.node_id()  # request header: authentication token, timestamp, handle, diagnostics …
    reader.take(16)
    reader.bytes_()
    reader.take(4)
    reader.extension_object()
    reader.take(12)  # max age, timestamps to return
    nodes: list[int | None] = []
    for _ in range(reader.count()):  # ReadValueId: node, attribute, index range, data encoding
        node = reader.node_id()
        attribute = reader.u32()
        reader.bytes_()
        reader.take(2)
        reader.bytes_()
        wanted = attribute == VALUE_ATTRIBUTE and node in (SERVER_STATUS, BUILD_INFO, *BUILD_INFO_FIELDS)
        nodes.append(node if wanted else None)
    reads = session.vars.setdefault("reads", {})
    if any(nodes) and len(reads) < MAX_PENDING:
        reads[request_id] = nodes


def _server_facts(reader: _Reader, service: int, nodes: list[int | None] | None) -> list[Fact]:
    """What a server says of itself: its application description (GetEndpoints, CreateSession,
    a FindServers answer naming one server) or its build information (Read)."""
    if service == READ:
        return _build_facts(reader, nodes) if nodes else []
    if service == FIND_SERVERS:
        servers = [reader.application() for _ in range(reader.count())]
        return _application_facts(servers[0]) if len(servers) == 1 else []
    if service == CREATE_SESSION:  # session id, token, timeout, nonce, certificate, then endpoints
        reader.node_id()
        reader.node_id()
        reader.take(8)
        reader.bytes_()
        reader.bytes_()
    if not reader.count():  # EndpointDescription: endpoint URL, then the server's description
        return []
    reader.bytes_()
    return _application_facts(reader.application())


def _application_facts(app: dict[str, str]) -> list[Fact]:
    facts = [Fact(attribute, value) for attribute, value in app.items() if value]
    if app["opcua_application"]:
        facts.append(Fact("product", app["opcua_application"], confidence=CONF_APPLICATION))
    return facts


def _build_facts(reader: _Reader, nodes: list[int | None]) -> list[Fact]:
    """Read response results (DataValues, in the request's order) of the Server's status nodes."""
    facts: list[Fact] = []
    for node in nodes[: reader.count()]:
        mask = reader.take(1)[0]
        value = _variant(reader) if mask & 0x01 else None
        reader.take(4 * bool(mask & 0x02) + 8 * bool(mask & 0x04) + 8 * bool(mask & 0x08)
                    + 2 * bool(mask & 0x10) + 2 * bool(mask & 0x20))
        if node in BUILD_INFO_FIELDS and isinstance(value, str) and value:
            facts.append(Fact(BUILD_INFO_FIELDS[node], value))
        elif node in (SERVER_STATUS, BUILD_INFO) and isinstance(value, bytes):
            info = _Reader(value, 20 if node == SERVER_STATUS else 0)  # after start/current time, state
            facts += [Fact(name, text) for name in BUILD_INFO_ORDER if (text := info.text())]
    return facts


def _variant(reader: _Reader) -> str | bytes | None:
    """A scalar Variant's value when it is a string, localized text or an extension object's body;
    None (and the value skipped when its size is known) otherwise."""
    kind = reader.take(1)[0]
    if kind & 0xC0:
        raise ValueError("OPC UA array variant where a scalar was expected")
    kind &= 0x3F
    if kind == STRING:
        return reader.text()
    if kind == LOCALIZED_TEXT:
        return reader.localized_text()
    if kind == EXTENSION_OBJECT:
        return reader.extension_object()
    sizes = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 4, 11: 8, 13: 8, 19: 4}
    if kind not in sizes:
        raise ValueError(f"OPC UA variant type {kind} not read")
    reader.take(sizes[kind])
    return None


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
