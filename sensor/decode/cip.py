"""CIP (Common Industrial Protocol) explicit messages, as carried by EtherNet/IP.

A request is service, request path (EPATH: class, instance, attribute, member, symbolic tag …) and
data; a response is service | 0x80, general status and extended status. ``events`` turns one
message into events: one per service, the services inside a Multiple Service Packet included,
each request answered by the response at the same position. Service, class and status names
follow the CIP specification (Volume 1) and Rockwell's Logix services.

A reply to a request for the Identity object (class 1, instance 1: Get_Attributes_All,
Get_Attribute_List, Get_Attribute_Single) names the device: vendor, device type, product code,
revision, serial number and product name, as List Identity does (``identity_facts``). A request
carried by an Unconnected Send is routed to another module (a slot of the chassis behind the
adapter), so its identity becomes a ``cip_module`` fact about the adapter's address instead.
Vendor and device type names come from pycomm3's tables (Wireshark's list), copied into ``data/``.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import MALFORMED, MAX_PENDING, Event, Fact, Session, salvage
from sensor.decode.tables import id_names

SERVICES = {
    0x01: "Get Attributes All", 0x02: "Set Attributes All", 0x03: "Get Attribute List",
    0x04: "Set Attribute List", 0x05: "Reset", 0x06: "Start", 0x07: "Stop", 0x08: "Create", 0x09: "Delete",
    0x0A: "Multiple Service Packet", 0x0D: "Apply Attributes", 0x0E: "Get Attribute Single",
    0x10: "Set Attribute Single", 0x11: "Find Next Object Instance", 0x14: "Error Response", 0x15: "Restore",
    0x16: "Save", 0x17: "No Operation", 0x18: "Get Member", 0x19: "Set Member", 0x1A: "Insert Member",
    0x1B: "Remove Member", 0x1C: "Group Sync",
}
# object-specific services (0x4B-0x63) of the Connection Manager and of Logix controllers
CONNECTION_MANAGER_SERVICES = {
    0x4E: "Forward Close", 0x52: "Unconnected Send", 0x54: "Forward Open", 0x56: "Get Connection Data",
    0x57: "Search Connection Data", 0x5A: "Get Connection Owner", 0x5B: "Large Forward Open",
}
LOGIX_SERVICES = {
    0x4B: "Execute PCCC", 0x4C: "Read Tag", 0x4D: "Write Tag", 0x4E: "Read Modify Write Tag",
    0x52: "Read Tag Fragmented", 0x53: "Write Tag Fragmented", 0x55: "Get Instance Attribute List",
}
CLASSES = {
    0x01: "Identity", 0x02: "Message Router", 0x03: "DeviceNet", 0x04: "Assembly", 0x05: "Connection",
    0x06: "Connection Manager", 0x07: "Register", 0x08: "Discrete Input Point", 0x09: "Discrete Output Point",
    0x0A: "Analog Input Point", 0x0B: "Analog Output Point", 0x0E: "Presence Sensing", 0x0F: "Parameter",
    0x10: "Parameter Group", 0x12: "Group", 0x1D: "Discrete Input Group", 0x1E: "Discrete Output Group",
    0x1F: "Discrete Group", 0x20: "Analog Input Group", 0x21: "Analog Output Group", 0x22: "Analog Group",
    0x23: "Position Sensor", 0x24: "Position Controller Supervisor", 0x25: "Position Controller",
    0x26: "Block Sequencer", 0x27: "Command Block", 0x28: "Motor Data", 0x29: "Control Supervisor",
    0x2A: "AC/DC Drive", 0x2B: "Acknowledge Handler", 0x2C: "Overload", 0x2D: "Softstart", 0x2E: "Selection",
    0x30: "S-Device Supervisor", 0x37: "File", 0x41: "Event Log", 0x42: "Motion Axis", 0x43: "Time Sync",
    0x44: "Modbus", 0x46: "Modbus Serial Link", 0x47: "Device Level Ring", 0x48: "QoS", 0x4D: "LLDP Management",
    0x6B: "Symbol", 0x6C: "Template", 0xF4: "Port", 0xF5: "TCP/IP Interface", 0xF6: "Ethernet Link",
}
STATUSES = {
    0x00: "Success", 0x01: "Connection failure", 0x02: "Resource unavailable", 0x03: "Invalid parameter value",
    0x04: "Path segment error", 0x05: "Path destination unknown", 0x06: "Partial transfer", 0x07: "Connection lost",
    0x08: "Service not supported", 0x09: "Invalid attribute value", 0x0A: "Attribute list error",
    0x0B: "Already in requested mode/state", 0x0C: "Object state conflict", 0x0D: "Object already exists",
    0x0E: "Attribute not settable", 0x0F: "Privilege violation", 0x10: "Device state conflict",
    0x11: "Reply data too large", 0x12: "Fragmentation of a primitive value", 0x13: "Not enough data",
    0x14: "Attribute not supported", 0x15: "Too much data", 0x16: "Object does not exist",
    0x17: "Service fragmentation sequence not in progress", 0x18: "No stored attribute data",
    0x19: "Store operation failure", 0x1A: "Routing failure, request packet too large",
    0x1B: "Routing failure, response packet too large", 0x1C: "Missing attribute list entry data",
    0x1D: "Invalid attribute value list", 0x1E: "Embedded service error", 0x1F: "Vendor specific error",
    0x20: "Invalid parameter", 0x21: "Write-once value or medium already written", 0x22: "Invalid reply received",
    0x25: "Key failure in path", 0x26: "Path size invalid", 0x27: "Unexpected attribute in list",
    0x28: "Invalid member ID", 0x29: "Member not settable",
}
MULTIPLE_SERVICE_PACKET = 0x0A
CONNECTION_MANAGER = 0x06
# logical segments: segment byte & 0xFC → path field; the low two bits give the value size
LOGICAL = {0x20: "class", 0x24: "instance", 0x28: "member", 0x2C: "connection_point", 0x30: "attribute"}
SYMBOLIC = 0x91  # ANSI extended symbolic segment: a tag name
GET_ATTRIBUTES_ALL, GET_ATTRIBUTE_LIST, GET_ATTRIBUTE_SINGLE, UNCONNECTED_SEND = 0x01, 0x03, 0x0E, 0x52
IDENTITY_CLASS = 0x01
# Identity object attributes in Get_Attributes_All order: vendor id, device type, product code,
# revision (major, minor), status, serial number, product name (SHORT_STRING)
IDENTITY_ATTRIBUTES = (1, 2, 3, 4, 5, 6, 7)
IDENTITY_SIZES = {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 4}
CONF_MODULE = 80


def service_name(service: int, cls: int | None) -> str:
    if service in SERVICES:
        return SERVICES[service]
    table = CONNECTION_MANAGER_SERVICES if cls == CONNECTION_MANAGER else LOGIX_SERVICES
    return table.get(service, f"unknown-0x{service:02x}")


def parse_path(path: bytes) -> dict[str, object]:
    """EPATH → {"class": n, "instance": n, "attribute": n, "tag": "a.b", …}; port segments are skipped."""
    out: dict[str, object] = {}
    tags = []
    pos = 0
    while pos < len(path):
        seg = path[pos]
        kind = seg & 0xFC
        if kind in LOGICAL and seg & 0x03 < 3:
            size = seg & 0x03
            if size == 0:
                value, pos = path[pos + 1], pos + 2
            elif size == 1:  # pad byte, then 16 bits
                value, pos = struct.unpack_from("<H", path, pos + 2)[0], pos + 4
            else:  # pad byte, then 32 bits
                value, pos = struct.unpack_from("<I", path, pos + 2)[0], pos + 6
            out.setdefault(LOGICAL[kind], value)
        elif seg == SYMBOLIC:
            length = path[pos + 1]
            tags.append(path[pos + 2 : pos + 2 + length].decode("latin-1"))
            pos += 2 + length + (length & 1)
        elif seg & 0xE0 == 0:  # port segment: port, link address (extended when bit 4 is set)
            if seg & 0x10:
                length = path[pos + 1]
                pos += 2 + length + (length & 1)
            else:
                pos += 2
        else:
            raise ValueError(f"unsupported EPATH segment 0x{seg:02x}")
    if tags:
        out["tag"] = ".".join(tags)
    return out


def _request_attrs(path: dict[str, object]) -> dict[str, object]:
    attrs: dict[str, object] = {}
    if "class" in path:
        attrs["class"] = f"0x{path['class']:02x}"
        attrs["class_name"] = CLASSES.get(path["class"], "")
    for field in ("instance", "attribute"):
        if field in path:
            attrs[field] = f"0x{path[field]:02x}"
    if "tag" in path:
        attrs["tag"] = path["tag"]
    return attrs


def _embedded(body: bytes) -> list[bytes]:
    """The messages of a Multiple Service Packet: count, offsets from the count, messages."""
    count = struct.unpack_from("<H", body)[0]
    offsets = struct.unpack_from(f"<{count}H", body, 2)
    ends = offsets[1:] + (len(body),)
    parts = [body[a:b] for a, b in zip(offsets, ends)]
    if any(not part for part in parts):
        raise ValueError("Multiple Service Packet offsets out of range")
    return parts


def _identity_request(service: int, path: dict[str, object], body: bytes) -> tuple[int, ...]:
    """The Identity attributes a request asks for (none when it is not about the Identity object)."""
    if path.get("class") != IDENTITY_CLASS or path.get("instance", 1) != 1:
        return ()
    if service == GET_ATTRIBUTES_ALL:
        return IDENTITY_ATTRIBUTES
    if service == GET_ATTRIBUTE_SINGLE and "attribute" in path:
        return (int(path["attribute"]),)
    if service == GET_ATTRIBUTE_LIST:  # count, attribute ids
        count = struct.unpack_from("<H", body)[0]
        return struct.unpack_from(f"<{count}H", body, 2)
    return ()


def _unconnected_send(body: bytes) -> tuple[bytes, str]:
    """Unconnected Send request data: priority/tick, timeout ticks, message size, the embedded
    message (padded to even length), route path size in words, reserved, route path; → (message,
    route as "port 1 link 0")."""
    size = struct.unpack_from("<H", body, 2)[0]
    message = body[4 : 4 + size]
    pos = 4 + size + (size & 1)
    route = body[pos + 2 : pos + 2 + 2 * body[pos]]
    if len(message) != size or len(route) < 2:
        raise ValueError("Unconnected Send truncated")
    return message, f"port {route[0] & 0x0F} link {route[1]}"


def _identity_values(service: int, wanted: tuple[int, ...], body: bytes) -> dict[int, bytes]:
    """Identity attribute id → raw value from a reply: Get_Attributes_All (attributes in order),
    Get_Attribute_Single (the one value) or Get_Attribute_List (count, then id, status, value)."""
    values: dict[int, bytes] = {}
    listed = service == GET_ATTRIBUTE_LIST
    count = struct.unpack_from("<H", body)[0] if listed else len(wanted)
    pos = 2 if listed else 0
    for index in range(count):
        if listed:
            attribute, status = struct.unpack_from("<HH", body, pos)
            pos += 4
            if status:
                continue
        else:
            attribute = wanted[index]
        if pos >= len(body):
            break  # a shorter answer (Get_Attributes_All of a device without a product name)
        size = 1 + body[pos] if attribute == 7 else IDENTITY_SIZES.get(attribute)
        if size is None or pos + size > len(body):
            break  # an attribute this decoder cannot size: the rest cannot be read
        values[attribute] = body[pos : pos + size]
        pos += size
    return values


def identity_facts(identity: dict[str, object]) -> list[Fact]:
    """Facts about a device from its Identity (as ``identity_attrs`` or List Identity name them)."""
    facts = {"vendor": identity.get("vendor"), "device_type": identity.get("device_type"),
             "product": identity.get("product_name"), "firmware": identity.get("revision"),
             "serial": identity.get("serial")}
    return [Fact(attribute, str(value)) for attribute, value in facts.items() if value]


def vendor_name(vendor: int) -> str:
    return id_names("cip_vendors").get(vendor, "")


def device_type_name(device_type: int) -> str:
    return id_names("cip_device_types").get(device_type, "")


def identity_attrs(values: dict[int, bytes]) -> dict[str, object]:
    """Identity attribute values → the names List Identity gives them."""
    out: dict[str, object] = {}
    if 1 in values:
        vendor = struct.unpack("<H", values[1])[0]
        out.update(vendor_id=vendor, vendor=vendor_name(vendor))
    if 2 in values:
        device_type = struct.unpack("<H", values[2])[0]
        out.update(device_type_id=device_type, device_type=device_type_name(device_type))
    if 3 in values:
        out["product_code"] = struct.unpack("<H", values[3])[0]
    if 4 in values:
        out["revision"] = f"{values[4][0]}.{values[4][1]}"
    if 6 in values:
        out["serial"] = f"0x{struct.unpack('<I', values[6])[0]:08x}"
    if 7 in values:
        out["product_name"] = values[7][1:].decode("latin-1").strip("\x00 ")
    return out


def _identity_reply(asked: tuple, service: int, body: bytes) -> list[Fact]:
    wanted, route = asked
    identity = identity_attrs(_identity_values(service, wanted, body))
    if not route:
        return identity_facts(identity)
    if not identity.get("product_name"):
        return []
    module = " ".join(str(v) for v in (identity.get("vendor"), identity["product_name"],
                                      identity.get("revision") and f"rev {identity['revision']}") if v)
    return [Fact("cip_module", f"{route}: {module}", confidence=CONF_MODULE)]


def events(msg: bytes, is_request: bool, key: object, session: Session,
           attrs: dict[str, object]) -> list[Event | Fact]:
    """Events of one CIP message (and the facts an Identity reply states); ``key`` pairs a request
    with its response, ``attrs`` are added."""
    service = msg[0] & 0x7F
    if is_request:
        path = parse_path(msg[2 : 2 + 2 * msg[1]])
        body = msg[2 + 2 * msg[1] :]
        cls = path.get("class")
        event = Event(service_name(service, cls), protocol="cip",
                      attrs={"service": f"0x{service:02x}", **_request_attrs(path), **attrs})
        out: list[Event | Fact] = [session.ask((key, 0), event)]
        asked = session.vars.setdefault("identity", {})
        asked.pop(key, None)  # a request of this key unanswered before is superseded
        route = ""
        try:
            if service == UNCONNECTED_SEND and cls == CONNECTION_MANAGER:
                inner, route = _unconnected_send(body)
                service, path, body = inner[0] & 0x7F, parse_path(inner[2 : 2 + 2 * inner[1]]), inner[2 + 2 * inner[1] :]
            wanted = _identity_request(service, path, body)
        except MALFORMED:  # the request's event stands; what it carries is unreadable
            session.malformed += 1
            return out
        if wanted and len(asked) < MAX_PENDING:
            asked[key] = (wanted, route)
        if service == MULTIPLE_SERVICE_PACKET and msg[0] & 0x80 == 0:
            for index, part in enumerate(_embedded(body), 1):
                out += events(part, True, (key, index), session, attrs)
        return out
    status, extra = msg[2], msg[3]
    body = msg[4 + 2 * extra :]
    event = session.answer((key, 0))
    out = []
    asked = session.vars.get("identity", {}).pop(key, None)
    if asked and status in (0, 0x06) and service in (GET_ATTRIBUTES_ALL, GET_ATTRIBUTE_LIST, GET_ATTRIBUTE_SINGLE):
        out += salvage(session, _identity_reply, asked, service, body)
    if event is None:  # request not seen
        event = Event(service_name(service, None), protocol="cip", attrs={"service": f"0x{service:02x}", **attrs})
        out.append(event)
    event.status = "OK" if status == 0 else STATUSES.get(status, f"unknown-0x{status:02x}")
    if extra:
        event.attrs["extended_status"] = f"0x{struct.unpack_from('<H', msg, 4)[0]:04x}"
    if service == MULTIPLE_SERVICE_PACKET and status in (0, 0x1E) and body:
        for index, part in enumerate(_embedded(body), 1):
            out += events(part, False, (key, index), session, attrs)
    return out
