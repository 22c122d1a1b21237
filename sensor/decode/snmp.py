"""SNMP v1, v2c and v3 (RFC 3416, RFC 3412) over UDP: one event per PDU, a request answered by the
response with the same request id (v1 traps stand alone), with the version, the first OIDs and
the error status.

Community strings are never kept: a v1/v2c message sets ``cleartext_credentials`` (the community
is a clear-text password) and ``default_community`` when it is "public" or "private"; a v3
message gives only its security level. A response's system group values become facts about the
agent: sysName → hostname, sysDescr → description, sysLocation → location, sysObjectID →
sysobjectid and, for well-known enterprise numbers, vendor; a sysDescr of a known shape (Siemens
SIMATIC, Cisco IOS, Axis, Linux, Windows: ``sensor.decode.identity``) gives vendor, model, firmware
or OS.
"""

from __future__ import annotations

from sensor.decode import identity
from sensor.decode.ber import OCTET_STRING, OID, SEQUENCE, Reader, oid_text
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

PDUS = {0xA0: "get_request", 0xA1: "get_next_request", 0xA2: "response", 0xA3: "set_request", 0xA4: "trap",
        0xA5: "get_bulk_request", 0xA6: "inform_request", 0xA7: "trap_v2", 0xA8: "report"}
RESPONSES = frozenset({0xA2, 0xA8})
VERSIONS = {0: "1", 1: "2c", 3: "3"}
ERRORS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType", "wrongLength",
          "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue", "resourceUnavailable", "commitFailed",
          "undoFailed", "authorizationError", "notWritable", "inconsistentName")
DEFAULT_COMMUNITIES = frozenset({b"public", b"private"})
SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "noAuthPriv", "authPriv")  # by msgFlags bits 0-1
SYSTEM = "1.3.6.1.2.1.1."
SYSTEM_FACTS = {"1.3.6.1.2.1.1.1.0": "description", "1.3.6.1.2.1.1.5.0": "hostname",
                "1.3.6.1.2.1.1.6.0": "location", "1.3.6.1.2.1.1.2.0": "sysobjectid"}
ENTERPRISE = "1.3.6.1.4.1."
ENTERPRISES = {9: "Cisco", 11: "Hewlett-Packard", 311: "Microsoft", 368: "Axis", 674: "Dell", 2001: "Oki",
               2011: "Huawei", 2636: "Juniper", 3833: "Schneider Electric", 4329: "Siemens", 8691: "Moxa",
               14988: "MikroTik", 39165: "Hikvision",
               41112: "Ubiquiti"}
MAX_OIDS = 5  # listed in an event
MAX_VARBINDS = 64
CONF_SYSTEM = 85
CONF_ENTERPRISE = 60
CONF_DESCRIPTION = 80  # what the agent's sysDescr says of its device


def detect(payload: bytes) -> bool:
    """A SEQUENCE spanning the datagram, version 0/1/3, then a community and a PDU tag (v1/v2c) or
    v3's header SEQUENCE."""
    try:
        outer = Reader(payload)
        tag, value = outer.read()
        if tag != SEQUENCE or outer.pos != len(payload):
            return False
        msg = Reader(value)
        version = msg.integer()
        if version in (0, 1):
            msg.expect(OCTET_STRING)
            return msg.read()[0] in PDUS
        return version == 3 and msg.read()[0] == SEQUENCE
    except (ValueError, IndexError):
        return False


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    outer = Reader(pdu)
    msg = Reader(outer.expect(SEQUENCE))
    version = msg.integer()
    attrs: dict[str, object] = {"version": VERSIONS.get(version, str(version))}
    if version == 3:
        header = Reader(msg.expect(SEQUENCE))
        header.integer(), header.integer()  # msgID, msgMaxSize
        flags = header.expect(OCTET_STRING)
        attrs["security_level"] = SECURITY_LEVELS[flags[0] & 3] if flags else ""
        msg.expect(OCTET_STRING)  # security parameters (user name, engine id): not kept
        tag, data = msg.read()
        if tag != SEQUENCE:  # encryptedPDU
            session.services.add("snmp")
            return [Event("encrypted_pdu", attrs=attrs)]
        scoped = Reader(data)
        scoped.expect(OCTET_STRING), scoped.expect(OCTET_STRING)  # context engine id and name
        tag, body = scoped.read()
    else:
        community = msg.expect(OCTET_STRING)
        attrs["cleartext_credentials"] = "true"
        if community in DEFAULT_COMMUNITIES:
            attrs["default_community"] = "true"
        tag, body = msg.read()
    if tag not in PDUS:
        raise ValueError(f"unknown SNMP PDU {tag:#x}")
    session.services.add("snmp")
    return _pdu(tag, Reader(body), attrs, session)


def _pdu(tag: int, body: Reader, attrs: dict[str, object], session: Session) -> list[Event | Fact]:
    if tag == 0xA4:  # v1 trap: enterprise, agent address, generic and specific trap, time stamp
        attrs["enterprise"] = oid_text(body.expect(OID))
        body.read()
        attrs["generic_trap"], attrs["specific_trap"] = body.integer(), body.integer()
        body.read()
        request_id, error = None, 0
    else:
        request_id, error = body.integer(), body.integer()
        body.integer()  # error index
        attrs["request_id"] = request_id
    bindings = _varbinds(Reader(body.expect(SEQUENCE)))
    attrs["oids"] = ",".join(oid for oid, _, _ in bindings[:MAX_OIDS])
    out: list[Event | Fact] = []
    if tag in RESPONSES:
        event = session.answer(request_id)
        if event is None:  # request not seen in this interval
            event = Event(PDUS[tag], attrs=attrs)
            out.append(event)
        event.status = ERRORS[error] if 0 <= error < len(ERRORS) else str(error)
        out += _system_facts(bindings)
    elif request_id is not None:
        out.append(session.ask(request_id, Event(PDUS[tag], attrs=attrs)))
    else:
        out.append(Event(PDUS[tag], attrs=attrs))
    return out


def _varbinds(seq: Reader) -> list[tuple[str, int, bytes]]:
    out = []
    while seq.more() and len(out) < MAX_VARBINDS:
        binding = Reader(seq.expect(SEQUENCE))
        oid = oid_text(binding.expect(OID))
        tag, value = binding.read()
        out.append((oid, tag, value))
    return out


def _system_facts(bindings: list[tuple[str, int, bytes]]) -> list[Fact]:
    facts = []
    for oid, tag, value in bindings:
        attribute = SYSTEM_FACTS.get(oid) if oid.startswith(SYSTEM) else None
        if attribute is None or not value:
            continue
        text = oid_text(value) if tag == OID else clean_text(value) if tag == OCTET_STRING else ""
        if not text:
            continue
        facts.append(Fact(attribute, text, confidence=CONF_SYSTEM))
        if attribute == "description":
            facts += identity.banner_facts("sysdescr", text, CONF_DESCRIPTION)
        if tag == OID and text.startswith(ENTERPRISE):
            number = int(text[len(ENTERPRISE) :].split(".", 1)[0])
            if number in ENTERPRISES:
                facts.append(Fact("vendor", ENTERPRISES[number], confidence=CONF_ENTERPRISE))
    return facts


PROTOCOL = Protocol("snmp", frozenset({"udp"}), frozenset({161, 162}), detect, decode)
