"""MMS (ISO 9506, the client/server protocol of IEC 61850) over the ISO session and presentation
layers, as ``sensor.decode.s7comm`` hands it over from ISO-on-TCP (port 102).

The session layer wraps each presentation PDU: a CONNECT or ACCEPT SPDU carries it as its user
data parameter, a GIVE TOKENS + DATA TRANSFER pair precedes it otherwise. The presentation
CP/CPA PDU carries ACSE's AARQ/AARE, whose user information holds MMS's initiate PDUs; later
data is a fully encoded PDV list holding an MMS PDU. Each confirmed request is an event named
by its service (Wireshark's names: read, write, getNameList, identify, fileOpen …) with the
object it names (domain/item), answered by the response or error with its invoke id; initiate
and conclude are events too (the initiate keeps the proposed version), and so is a reject. An
identify answer names the server's vendor, model and revision: asset facts. Values are not kept,
and information reports (unconfirmed PDUs an IED pushes) are not events.
"""

from __future__ import annotations

from sensor.decode.ber import Reader
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Session

CONNECT, ACCEPT, GIVE_TOKENS, DATA_TRANSFER = 0x0D, 0x0E, 0x01, 0x01
SESSION_USER_DATA = 0xC1
SPDUS = frozenset({0x01, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x19})  # session PDU types
# presentation CP/CPA → normal-mode parameters → user data → PDV list → single ASN.1 value (ACSE), then
# ACSE AARQ/AARE → user information → EXTERNAL → single ASN.1 value (MMS)
PRESENTATION_CONNECT = (0x31, 0xA2, 0x61, 0x30, 0xA0)
PRESENTATION_DATA = (0x61, 0x30, 0xA0)
AARQ_AARE = frozenset({0x60, 0x61})
USER_INFORMATION = (0xBE, 0x28, 0xA0)
CONFIRMED_REQUEST, CONFIRMED_RESPONSE, CONFIRMED_ERROR, UNCONFIRMED, REJECT = 0xA0, 0xA1, 0xA2, 0xA3, 0xA4
INITIATE = {0xA8: ("initiate", ""), 0xA9: ("initiate", "OK"), 0xAA: ("initiate", "error")}
CONCLUDE = {0x8B: ("conclude", ""), 0x8C: ("conclude", "OK"), 0xAD: ("conclude", "error")}
INVOKE_ID, ERROR_INVOKE_ID, MODIFIERS = 0x02, 0x80, 0x30  # an error PDU tags its invoke id [0]
INIT_DETAIL, VERSION = 0xA4, 0x80  # initRequest/ResponseDetail, proposed/negotiatedVersionNumber
SERVICES = (
    "status", "getNameList", "identify", "rename", "read", "write", "getVariableAccessAttributes",
    "defineNamedVariable", "defineScatteredAccess", "getScatteredAccessAttributes", "deleteVariableAccess",
    "defineNamedVariableList", "getNamedVariableListAttributes", "deleteNamedVariableList", "defineNamedType",
    "getNamedTypeAttributes", "deleteNamedType", "input", "output", "takeControl", "relinquishControl",
    "defineSemaphore", "deleteSemaphore", "reportSemaphoreStatus", "reportPoolSemaphoreStatus",
    "reportSemaphoreEntryStatus", "initiateDownloadSequence", "downloadSegment", "terminateDownloadSequence",
    "initiateUploadSequence", "uploadSegment", "terminateUploadSequence", "requestDomainDownload",
    "requestDomainUpload", "loadDomainContent", "storeDomainContent", "deleteDomain", "getDomainAttributes",
    "createProgramInvocation", "deleteProgramInvocation", "start", "stop", "resume", "reset", "kill",
    "getProgramInvocationAttributes", "obtainFile", "defineEventCondition", "deleteEventCondition",
    "getEventConditionAttributes", "reportEventConditionStatus", "alterEventConditionMonitoring", "triggerEvent",
    "defineEventAction", "deleteEventAction", "getEventActionAttributes", "reportEventActionStatus",
    "defineEventEnrollment", "deleteEventEnrollment", "alterEventEnrollment", "reportEventEnrollmentStatus",
    "getEventEnrollmentAttributes", "acknowledgeEventNotification", "getAlarmSummary", "getAlarmEnrollmentSummary",
    "readJournal", "writeJournal", "initializeJournal", "reportJournalStatus", "createJournal", "deleteJournal",
    "getCapabilityList", "fileOpen", "fileRead", "fileClose", "fileRename", "fileDelete", "fileDirectory",
)
IDENTIFY = 2
IDENTITY = {0x80: "vendor", 0x81: "model", 0x82: "firmware"}  # vendorName, modelName, revision
DOMAIN_SPECIFIC, VISIBLE_STRING = 0xA1, 0x1A
MAX_DEPTH = 8


def is_session(data: bytes) -> bool:
    """Does ISO transport user data start with a session PDU (rather than, say, S7comm)?"""
    return bool(data) and data[0] in SPDUS


def is_data(data: bytes) -> bool:
    """Does ISO transport user data carry presentation data in a session DATA TRANSFER?"""
    return data[:5] == bytes((GIVE_TOKENS, 0, DATA_TRANSFER, 0, PRESENTATION_DATA[0]))


def _follow(data: bytes, tags: tuple[int, ...]) -> bytes:
    """The value reached through the first element of each tag in turn."""
    for tag in tags:
        fields = Reader(data).fields()
        if tag not in fields:
            raise ValueError(f"no BER element {tag:#x} on the way to MMS")
        data = fields[tag]
    return data


def _user_data(spdu: bytes) -> bytes:
    """The session user data parameter of a CONNECT or ACCEPT SPDU (type, length, parameters)."""
    pos, end = 2, 2 + spdu[1]
    if spdu[1] == 0xFF:  # extended length
        pos, end = 4, 4 + int.from_bytes(spdu[2:4], "big")
    while pos < min(end, len(spdu)):
        code, length = spdu[pos], spdu[pos + 1]
        pos += 2
        if length == 0xFF:
            length, pos = int.from_bytes(spdu[pos : pos + 2], "big"), pos + 2
        if code == SESSION_USER_DATA:
            return spdu[pos : pos + length]
        pos += length
    raise ValueError("session SPDU without user data")


def _mms_pdu(data: bytes) -> bytes | None:
    """The MMS PDU a session PDU carries, or None (release, abort, refuse …)."""
    if data[0] in (CONNECT, ACCEPT):
        acse = _follow(_user_data(data), PRESENTATION_CONNECT)
        tag = Reader(acse).read()[0]
        if tag not in AARQ_AARE:
            raise ValueError("presentation data is not ACSE")
        return _follow(acse, (tag, *USER_INFORMATION))
    if data[:4] == bytes((GIVE_TOKENS, 0, DATA_TRANSFER, 0)):
        return _follow(data[4:], PRESENTATION_DATA)
    return None


def _service(tag: int) -> str:
    """A ConfirmedServiceRequest/Response choice tag (low or high tag number form) → its name."""
    number = tag & 0x1F
    if number == 0x1F:  # high tag number: base-128 digits after the first byte
        number = 0
        for byte in tag.to_bytes((tag.bit_length() + 7) // 8, "big")[1:]:
            number = number << 7 | byte & 0x7F
    return SERVICES[number] if number < len(SERVICES) else f"unknown-{number}"


def _object(value: bytes, depth: int = 0) -> str:
    """The first domain-specific object name (domain/item) within a service's parameters."""
    reader = Reader(value)
    while reader.more() and depth < MAX_DEPTH:
        tag, inner = reader.read()
        if tag == DOMAIN_SPECIFIC:
            names = Reader(inner)
            domain, item = names.read(), names.read() if names.more() else (0, b"")
            if domain[0] == item[0] == VISIBLE_STRING:
                return f"{clean_text(domain[1])}/{clean_text(item[1])}"
        if tag & 0x20:  # constructed
            found = _object(inner, depth + 1)
            if found:
                return found
    return ""


def _identity(value: bytes) -> list[Fact]:
    return [Fact(IDENTITY[tag], clean_text(text)) for tag, text in Reader(value).fields().items()
            if tag in IDENTITY and clean_text(text)]


def _version(body: bytes) -> str:
    """The proposed (request) or negotiated (response) version of an initiate PDU's detail."""
    detail = Reader(body).fields().get(INIT_DETAIL)
    version = Reader(detail).fields().get(VERSION) if detail is not None else None
    return str(int.from_bytes(version, "big")) if version else ""


def decode(data: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    """Events and facts of one session PDU (ISO transport user data)."""
    pdu = _mms_pdu(data)
    if pdu is None:
        return []
    session.services.add("mms")
    tag, body = Reader(pdu).read()
    if tag in INITIATE or tag in CONCLUDE:
        name, status = INITIATE.get(tag) or CONCLUDE[tag]
        attrs = {"version": _version(body)} if tag in INITIATE else {}
        if not status:
            return [session.ask(name, Event(name, protocol="mms", attrs=attrs))]
        return _answered(session.answer(name), name, status, attrs)
    if tag == UNCONFIRMED:
        return []  # an information report an IED pushes: process data
    if tag not in (CONFIRMED_REQUEST, CONFIRMED_RESPONSE, CONFIRMED_ERROR):
        return [Event("reject" if tag == REJECT else f"unknown-{tag:#x}", protocol="mms")]
    reader = Reader(body)
    invoke = int.from_bytes(reader.expect(ERROR_INVOKE_ID if tag == CONFIRMED_ERROR else INVOKE_ID), "big")
    service, params = reader.read() if reader.more() else (0, b"")
    if tag == CONFIRMED_REQUEST:
        if service == MODIFIERS:  # a request's list of modifiers precedes its service
            service, params = reader.read()
        event = Event(_service(service), protocol="mms", attrs={"invoke_id": invoke, "object": _object(params)})
        return [session.ask(invoke, event)]
    # a response names its service too (an error does not)
    name = _service(service) if tag == CONFIRMED_RESPONSE else "unknown"
    out = _answered(session.answer(invoke), name, "OK" if tag == CONFIRMED_RESPONSE else "error", {"invoke_id": invoke})
    if tag == CONFIRMED_RESPONSE and name == SERVICES[IDENTIFY]:
        out += _identity(params)
    return out


def _answered(event: Event | None, name: str, status: str, attrs: dict[str, object]) -> list[Event | Fact]:
    """Set the status of the request answered, or a new event when the request was not seen."""
    if event is not None:
        event.status = status
        event.attrs.update({k: v for k, v in attrs.items() if v != "" and k not in event.attrs})
        return []
    return [Event(name, status, attrs, protocol="mms")]
