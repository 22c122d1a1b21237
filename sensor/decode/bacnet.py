"""BACnet/IP (ASHRAE 135 Annex J): BVLC, NPDU and APDU.

One event per confirmed request, answered by the Simple-/Complex-ACK, Error, Reject or Abort with
the same invoke id sent the other way; one event per unconfirmed request (who-is, i-am, i-have,
time synchronisation …), per network-layer message and per BVLL-only function (foreign device
registration, broadcast tables). I-Am announces the device instance and vendor id, which names the
vendor through ASHRAE's vendor identifier registry (``data/bacnet_vendors.csv``, as Wireshark carries
it); a read-property or read-property-multiple answer about the device object's vendor name or
identifier, model name, firmware revision, application software version or object name becomes
an asset fact — a segmented answer once its segments are put back together (in order, none missing,
at most ``MAX_SEGMENTED`` bytes). The segments after a message's first add no event of their own.
Service and type names are the standard's, in the spelling ICSNPP's bacnet.log uses.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Fact, Protocol, Session, salvage
from sensor.decode.tables import id_names

BVLC_TYPE = 0x81
BVLC_FUNCTIONS = {
    0x00: "BVLC_Result", 0x01: "Write_Broadcast_Distribution_Table", 0x02: "Read_Broadcast_Distribution_Table",
    0x03: "Read_Broadcast_Distribution_Table_Ack", 0x04: "Forwarded_NPDU", 0x05: "Register_Foreign_Device",
    0x06: "Read_Foreign_Device_Table", 0x07: "Read_Foreign_Device_Table_Ack", 0x08: "Delete_Foreign_Device_Table_Entry",
    0x09: "Distribute_Broadcast_to_Network", 0x0A: "Original_Unicast_NPDU", 0x0B: "Original_Broadcast_NPDU",
    0x0C: "Secure_BVLL",
}
NPDU_FUNCTIONS = (0x04, 0x09, 0x0A, 0x0B)
PDU_TYPES = ("CONFIRMED_REQUEST", "UNCONFIRMED_REQUEST", "SIMPLE_ACK", "COMPLEX_ACK", "SEGMENT_ACK", "ERROR_PDU",
             "REJECT_PDU", "ABORT_PDU")
CONFIRMED = (
    "acknowledge_alarm", "confirmed_cov_notification", "confirmed_event_notification", "get_alarm_summary",
    "get_enrollment_summary", "subscribe_cov", "atomic_read_file", "atomic_write_file", "add_list_element",
    "remove_list_element", "create_object", "delete_object", "read_property", "read_property_conditional",
    "read_property_multiple", "write_property", "write_property_multiple", "device_communication_control",
    "confirmed_private_transfer", "confirmed_text_message", "reinitialize_device", "vt_open", "vt_close",
    "vt_data", "authenticate", "request_key", "read_range", "life_safety_operation", "subscribe_cov_property",
    "get_event_information", "subscribe_cov_property_multiple", "confirmed_cov_notification_multiple",
    "confirmed_audit_notification", "audit_log_query",
)
UNCONFIRMED = (
    "i_am", "i_have", "unconfirmed_cov_notification", "unconfirmed_event_notification",
    "unconfirmed_private_transfer", "unconfirmed_text_message", "time_synchronization", "who_has", "who_is",
    "utc_time_synchronization", "write_group", "unconfirmed_cov_notification_multiple",
    "unconfirmed_audit_notification", "who_am_i", "you_are",
)
NETWORK_MESSAGES = (
    "who_is_router_to_network", "i_am_router_to_network", "i_could_be_router_to_network",
    "reject_message_to_network", "router_busy_to_network", "router_available_to_network",
    "initialize_routing_table", "initialize_routing_table_ack", "establish_connection_to_network",
    "disconnect_connection_to_network", "challenge_request", "security_payload", "security_response",
    "request_key_update", "update_key_set", "update_distribution_key", "request_master_key", "set_master_key",
    "what_is_network_number", "network_number_is",
)
ERROR_CODES = (
    "other", "authentication-failed", "configuration-in-progress", "device-busy", "dynamic-creation-not-supported",
    "file-access-denied", "incompatible-security-levels", "inconsistent-parameters",
    "inconsistent-selection-criterion", "invalid-data-type", "invalid-file-access-method",
    "invalid-file-start-position", "invalid-operator-name", "invalid-parameter-data-type", "invalid-time-stamp",
    "key-generation-error", "missing-required-parameter", "no-objects-of-specified-type", "no-space-for-object",
    "no-space-to-add-list-element", "no-space-to-write-property", "no-vt-sessions-available",
    "property-is-not-a-list", "object-deletion-not-permitted", "object-identifier-already-exists",
    "operational-problem", "password-failure", "read-access-denied", "security-not-supported",
    "service-request-denied", "timeout", "unknown-object", "unknown-property", "removed", "unknown-vt-class",
    "unknown-vt-session", "unsupported-object-type", "value-out-of-range", "vt-session-already-closed",
    "vt-session-termination-failure", "write-access-denied", "character-set-not-supported", "invalid-array-index",
    "cov-subscription-failed", "not-cov-property", "optional-functionality-not-supported",
    "invalid-configuration-data", "datatype-not-supported", "duplicate-name", "duplicate-object-id",
    "property-is-not-an-array",
)
REJECT_REASONS = (
    "other", "buffer-overflow", "inconsistent-parameters", "invalid-parameter-data-type", "invalid-tag",
    "missing-required-parameter", "parameter-out-of-range", "too-many-arguments", "undefined-enumeration",
    "unrecognized-service",
)
ABORT_REASONS = (
    "other", "buffer-overflow", "invalid-apdu-in-this-state", "preempted-by-higher-priority-task",
    "segmentation-not-supported", "security-error", "insufficient-security", "window-size-out-of-range",
    "application-exceeded-reply-time", "out-of-resources", "tsm-timeout", "apdu-too-long",
)
OBJECT_TYPES = (
    "analog-input", "analog-output", "analog-value", "binary-input", "binary-output", "binary-value", "calendar",
    "command", "device", "event-enrollment", "file", "group", "loop", "multi-state-input", "multi-state-output",
    "notification-class", "program", "schedule", "averaging", "multi-state-value", "trend-log",
    "life-safety-point", "life-safety-zone", "accumulator", "pulse-converter", "event-log", "global-group",
    "trend-log-multiple", "load-control", "structured-view", "access-door", "timer", "access-credential",
    "access-point", "access-rights", "access-user", "access-zone", "credential-data-input", "network-security",
    "bitstring-value", "characterstring-value", "date-pattern-value", "date-value", "datetime-pattern-value",
    "datetime-value", "integer-value", "large-analog-value", "octetstring-value", "positive-integer-value",
    "time-pattern-value", "time-value", "notification-forwarder", "alert-enrollment", "channel",
    "lighting-output", "binary-lighting-output", "network-port", "elevator-group", "escalator", "lift",
    "staging", "audit-log", "audit-reporter", "color", "color-temperature",
)
PROPERTIES = {
    12: "application-software-version", 28: "description", 36: "event-state", 44: "firmware-revision",
    58: "location", 62: "max-apdu-length-accepted", 70: "model-name", 75: "object-identifier", 76: "object-list",
    77: "object-name", 79: "object-type", 81: "out-of-service", 85: "present-value", 87: "priority-array",
    96: "protocol-object-types-supported", 97: "protocol-services-supported", 98: "protocol-version",
    103: "reliability", 104: "relinquish-default", 107: "segmentation-supported", 111: "status-flags",
    112: "system-status", 117: "units", 120: "vendor-identifier", 121: "vendor-name", 139: "protocol-revision",
    155: "database-revision",
}
# device object properties (character strings) that describe the device
DEVICE_FACTS = {121: "vendor", 70: "model", 44: "firmware", 12: "software", 77: "device_name"}
VENDOR_IDENTIFIER = 120
DEVICE = 8
CHARACTER_STRING, UNSIGNED = 7, 2  # application tag numbers
# a vendor named from the I-Am's vendor id: registered by the maker, but ranked below the vendor-name
# string the device reports itself (90)
CONF_VENDOR_ID = 85
READ_PROPERTY, READ_PROPERTY_MULTIPLE, WRITE_PROPERTY, I_AM, I_HAVE, WHO_IS = 12, 14, 15, 0, 1, 8
MAX_SEGMENTED = 32_768  # bytes of one segmented answer put back together for its identity facts
MAX_REASSEMBLIES = 2  # segmented answers being put back together in a flow at once (oldest dropped)
OPENING, CLOSING = 6, 7


def _name(table: tuple[str, ...], code: int) -> str:
    return table[code] if code < len(table) else f"unknown-{code}"


def vendors() -> dict[int, str]:
    """ASHRAE's BACnet vendor identifiers → vendor names (read once, on first use)."""
    return id_names("bacnet_vendors")


def detect(payload: bytes) -> bool:
    """A BVLL message: a known function and, when it carries an NPDU, version 1 with the reserved
    control bits clear and a valid APDU type. (Like ICSNPP we do not insist on the BVLL length,
    which some stacks get wrong.)"""
    if len(payload) < 4 or payload[0] != BVLC_TYPE or payload[1] not in BVLC_FUNCTIONS:
        return False
    if payload[1] not in NPDU_FUNCTIONS:
        return struct.unpack_from(">H", payload, 2)[0] == len(payload)
    try:
        control, pos = _npdu(payload)
    except (ValueError, IndexError):
        return False
    return not control & 0x50 and pos < len(payload) and (bool(control & 0x80) or payload[pos] >> 4 < len(PDU_TYPES))


def _npdu(pdu: bytes) -> tuple[int, int]:
    """(NPDU control, position of the APDU or network message type) after the addresses."""
    pos = 10 if pdu[1] == 0x04 else 4  # a forwarded NPDU names its original B/IP address first
    if pdu[pos] != 0x01:
        raise ValueError("unsupported BACnet NPDU version")
    control = pdu[pos + 1]
    pos += 2
    if control & 0x20:  # destination network, address length, address
        pos += 3 + pdu[pos + 2]
    if control & 0x08:  # source network, address length, address
        pos += 3 + pdu[pos + 2]
    if control & 0x20:  # hop count
        pos += 1
    return control, pos


# -- tags -----------------------------------------------------------------------------------------


def _tag(buf: bytes, pos: int) -> tuple[int, bool, int, bytes, int]:
    """One tag at ``pos``: (number, context?, length/value/type, content, next position)."""
    first = buf[pos]
    number, context, lvt = first >> 4, bool(first & 0x08), first & 0x07
    pos += 1
    if number == 15:
        number = buf[pos]
        pos += 1
    if context and lvt in (OPENING, CLOSING):
        return number, context, lvt, b"", pos
    if not context and number == 1:  # application boolean: the value is in the tag
        return number, context, lvt, b"", pos
    length = lvt
    if lvt == 5:
        length = buf[pos]
        pos += 1
        if length == 254:
            length, pos = struct.unpack_from(">H", buf, pos)[0], pos + 2
        elif length == 255:
            length, pos = struct.unpack_from(">I", buf, pos)[0], pos + 4
    content = buf[pos : pos + length]
    if len(content) != length:
        raise ValueError("BACnet tag truncated")
    return number, context, lvt, content, pos + length


def _tags(buf: bytes) -> list[tuple[int, bool, int, bytes]]:
    out, pos = [], 0
    while pos < len(buf):
        number, context, lvt, content, pos = _tag(buf, pos)
        out.append((number, context, lvt, content))
    return out


def _unsigned(content: bytes) -> int:
    if not 1 <= len(content) <= 4:
        raise ValueError("BACnet unsigned of bad length")
    return int.from_bytes(content, "big")


def _object_id(content: bytes) -> tuple[str, int]:
    if len(content) != 4:
        raise ValueError("BACnet object identifier of bad length")
    value = struct.unpack(">I", content)[0]
    return _name(OBJECT_TYPES, value >> 22), value & 0x3FFFFF


def character_string(content: bytes) -> str:
    """Character string: character set (0 = UTF-8, 4 = UCS-2, 5 = ISO 8859-1), then the bytes."""
    charset, raw = content[0], content[1:]
    codec = {0: "utf-8", 4: "utf-16-be", 5: "latin-1"}.get(charset, "latin-1")
    return raw.decode(codec, errors="replace").strip("\x00 ")


# -- messages -------------------------------------------------------------------------------------


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    function = pdu[1]
    if pdu[0] != BVLC_TYPE or function not in BVLC_FUNCTIONS:
        raise ValueError("not a BVLL message")
    session.services.add("bacnet")
    bvlc = BVLC_FUNCTIONS[function]
    if function not in NPDU_FUNCTIONS:
        return [Event(bvlc, attrs={"bvlc_function": bvlc})]
    control, pos = _npdu(pdu)
    attrs: dict[str, object] = {"bvlc_function": bvlc}
    if control & 0x80:
        return [Event(_name(NETWORK_MESSAGES, pdu[pos]), attrs={**attrs, "pdu_type": "NPDU"})]
    if pos >= len(pdu):
        raise ValueError("BACnet NPDU without APDU")
    items = _apdu(pdu[pos:], is_orig, session, attrs)
    if function == 0x04 or control & 0x08:  # relayed by a BBMD or a router: the sender is not the device
        return [item for item in items if isinstance(item, Event)]
    return items


def _apdu(apdu: bytes, is_orig: bool, session: Session, attrs: dict[str, object]) -> list[Event | Fact]:
    kind = apdu[0] >> 4
    if kind >= len(PDU_TYPES):
        raise ValueError(f"unknown BACnet APDU type {kind}")
    attrs["pdu_type"] = PDU_TYPES[kind]
    if kind == 0:  # confirmed request: flags, max segments/APDU, invoke id, [sequence, window], service
        invoke = apdu[2]
        pos = 5 if apdu[0] & 0x08 else 3
        service = apdu[pos]
        if apdu[0] & 0x08 and apdu[3] != 0:  # a later segment of a request already counted
            return []
        event = Event(_name(CONFIRMED, service), attrs={**attrs, "invoke_id": invoke})
        event.attrs.update(_request_fields(service, apdu[pos + 1 :]))
        return [session.ask((invoke, is_orig), event)]
    if kind == 1:
        return _unconfirmed(apdu[1], apdu[2:], attrs)
    if kind == 4:  # segment ACK: flow control, not an action
        return []
    invoke = apdu[1]
    if kind == 3 and apdu[0] & 0x08 and apdu[2] != 0:
        return later_segment(apdu, invoke, is_orig, session)
    event = session.answer((invoke, not is_orig))
    out: list[Event | Fact] = []
    if event is None:
        service = apdu[2] if kind in (2, 5) else apdu[4 if apdu[0] & 0x08 else 2] if kind == 3 else None
        name = _name(CONFIRMED, service) if service is not None else PDU_TYPES[kind].split("_")[0].lower()
        event = Event(name, attrs={**attrs, "invoke_id": invoke})
        out.append(event)
    event.attrs["reply"] = PDU_TYPES[kind]
    if kind in (2, 3):
        event.status = "OK"
        if kind == 3 and apdu[0] & 0x08:
            out += start_reassembly(apdu, invoke, is_orig, session)
        elif kind == 3:
            out += _answer_facts(apdu[2], apdu[3:], session)
    elif kind == 5:
        event.status = _error_code(apdu[3:])
    elif kind == 6:
        event.status = _name(REJECT_REASONS, apdu[2])
    else:
        event.status = _name(ABORT_REASONS, apdu[2])
    return out


def _answer_facts(service: int, body: bytes, session: Session) -> list[Fact]:
    if service not in (READ_PROPERTY, READ_PROPERTY_MULTIPLE):
        return []
    return salvage(session, device_facts, body, service == READ_PROPERTY_MULTIPLE)


def start_reassembly(apdu: bytes, invoke: int, is_orig: bool, session: Session) -> list[Fact]:
    """The first segment of a Complex-ACK (flags, invoke id, sequence 0, window, service, data):
    kept while more follow; read at once when it is the only one."""
    if len(apdu) < 5:
        raise ValueError("BACnet segment without its header")
    parts: dict = session.vars.setdefault("segmented", {})
    parts.pop((invoke, is_orig), None)
    if not apdu[0] & 0x04:  # no more follow
        return _answer_facts(apdu[4], apdu[5:], session)
    if len(apdu) - 5 <= MAX_SEGMENTED:
        if len(parts) >= MAX_REASSEMBLIES:
            parts.pop(next(iter(parts)))
        parts[(invoke, is_orig)] = [1, apdu[4], bytearray(apdu[5:])]
    return []


def later_segment(apdu: bytes, invoke: int, is_orig: bool, session: Session) -> list[Fact]:
    """A Complex-ACK segment after the first: added to its answer, whose facts are read once the last
    one is in. A segment out of order, or an answer grown past ``MAX_SEGMENTED``, is given up."""
    parts: dict = session.vars.get("segmented", {})
    state = parts.get((invoke, is_orig))
    if state is None:
        return []
    expected, service, data = state
    if len(apdu) < 5 or apdu[2] != expected or len(data) + len(apdu) - 5 > MAX_SEGMENTED:
        del parts[(invoke, is_orig)]
        return []
    data += apdu[5:]
    state[0] = (expected + 1) % 256
    if apdu[0] & 0x04:  # more follow
        return []
    del parts[(invoke, is_orig)]
    return _answer_facts(service, bytes(data), session)


def _request_fields(service: int, body: bytes) -> dict[str, object]:
    """Object and property of read-property and write-property requests."""
    if service not in (READ_PROPERTY, WRITE_PROPERTY):
        return {}
    fields: dict[str, object] = {}
    pos = 0
    while pos < len(body):
        number, context, lvt, content, pos = _tag(body, pos)
        if not context or lvt in (OPENING, CLOSING):
            break
        if number == 0:
            fields["object_type"], fields["instance"] = _object_id(content)
        elif number == 1:
            prop = _unsigned(content)
            fields["property"] = PROPERTIES.get(prop, str(prop))
        elif number == 2:
            fields["array_index"] = _unsigned(content)
    return fields


def _unconfirmed(service: int, body: bytes, attrs: dict[str, object]) -> list[Event | Fact]:
    event = Event(_name(UNCONFIRMED, service), attrs=attrs)
    if service == I_AM:  # device id, max APDU, segmentation, vendor id (application tags)
        tags = _tags(body)
        if len(tags) < 4 or tags[0][0] != 12 or tags[0][1]:
            raise ValueError("malformed I-Am")
        object_type, instance = _object_id(tags[0][3])
        vendor = _unsigned(tags[3][3])
        event.attrs.update(object_type=object_type, instance=instance, vendor_id=vendor)
        return [event, Fact("bacnet_device_id", str(instance)), *vendor_id_facts(vendor)]
    if service == I_HAVE:  # device id, object id, object name
        tags = _tags(body)
        if len(tags) < 3:
            raise ValueError("malformed I-Have")
        _, device = _object_id(tags[0][3])
        object_type, instance = _object_id(tags[1][3])
        event.attrs.update(device=device, object_type=object_type, instance=instance,
                           object_name=character_string(tags[2][3]))
    elif service == WHO_IS and body:  # optional device instance range
        tags = _tags(body)
        if len(tags) == 2:
            event.attrs["range"] = f"{_unsigned(tags[0][3])}-{_unsigned(tags[1][3])}"
    return [event]


def _error_code(body: bytes) -> str:
    """Error PDU: error class and error code, enumerated (possibly inside a context-tagged wrapper)."""
    values = [_unsigned(content) for number, context, lvt, content in _tags(body) if not context and number == 9]
    if len(values) < 2:
        raise ValueError("Error PDU without class and code")
    return _name(ERROR_CODES, values[1])


def vendor_id_facts(vendor: int) -> list[Fact]:
    """A vendor identifier and, when ASHRAE's registry knows it, the vendor it names."""
    name = vendors().get(vendor)
    return [Fact("bacnet_vendor_id", str(vendor))] + ([Fact("vendor", name, confidence=CONF_VENDOR_ID)] if name else [])


def device_facts(body: bytes, multiple: bool) -> list[Fact]:
    """Facts from a read-property or read-property-multiple answer about a device object."""
    facts: list[Fact] = []
    for object_type, prop, number, content in (_rpm_values if multiple else _rp_value)(_tags(body)):
        if object_type != "device":
            continue
        attribute = DEVICE_FACTS.get(prop)
        if attribute and number == CHARACTER_STRING and (text := character_string(content)):
            facts.append(Fact(attribute, text))
        elif prop == VENDOR_IDENTIFIER and number == UNSIGNED:
            facts += vendor_id_facts(_unsigned(content))
    return facts


Tags = list[tuple[int, bool, int, bytes]]


def _rp_value(tags: Tags) -> list[tuple[str, int, int, bytes]]:
    """ReadProperty-ACK: object id [0], property id [1], [array index [2]], value in [3]: its first
    application-tagged value as (object type, property, application tag number, content)."""
    if len(tags) < 4 or tags[0][:2] != (0, True) or tags[1][:2] != (1, True):
        return []
    object_type, _ = _object_id(tags[0][3])
    value = next(((number, content) for number, context, lvt, content in tags[2:] if not context), None)
    return [(object_type, _unsigned(tags[1][3]), *value)] if value else []


def _rpm_values(tags: Tags) -> list[tuple[str, int, int, bytes]]:
    """ReadPropertyMultiple-ACK: per object, its id [0] and in [1] its results: property id [2],
    [array index [3]], then the value in [4] (or an error in [5]); the first application-tagged
    value of each property, as ``_rp_value`` gives it."""
    out: list[tuple[str, int, int, bytes]] = []
    object_type, prop, depth, taken = "", -1, 0, False
    for number, context, lvt, content in tags:
        if context and lvt == OPENING:
            depth += 1
        elif context and lvt == CLOSING:
            depth -= 1
        elif depth == 0 and context and number == 0:
            object_type, _ = _object_id(content)
        elif depth == 1 and context and number == 2:
            prop, taken = _unsigned(content), False
        elif depth == 2 and not context and not taken:
            out.append((object_type, prop, number, content))
            taken = True
    return out


PROTOCOL = Protocol("bacnet", frozenset({"udp"}), frozenset({47808}), detect, decode)
