"""KNXnet/IP (port 3671, UDP and TCP): discovery and identification of KNX IP interfaces and routers,
and the connections made through them.

A frame is a 6-byte header (length 6, version 0x10, service type, total length) and its body.
Search and description requests (a tool looking for KNX devices) and their responses are
events; a response's device information block names the device (friendly name, serial number,
MAC address, KNX individual address and medium), which becomes facts about the sender, and its
supported service families are listed. Connect, connection state and disconnect requests are
events answered by their responses (matched by type: a flow holds one tunnel), with the status.
Tunnelling and routing frames carry the KNX telegrams themselves (process data): they name the
service only. Service names follow the KNXnet/IP specification and Wireshark's kip dissector.
"""

from __future__ import annotations

import ipaddress
import struct

from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

HEADER = struct.Struct(">BBHH")  # header length, version, service type, total length
HEADER_LENGTH, VERSION = 6, 0x10
SERVICES = {
    0x0201: "search_request", 0x0202: "search_response", 0x0203: "description_request",
    0x0204: "description_response", 0x0205: "connect_request", 0x0206: "connect_response",
    0x0207: "connectionstate_request", 0x0208: "connectionstate_response", 0x0209: "disconnect_request",
    0x020A: "disconnect_response", 0x020B: "search_request_ext", 0x020C: "search_response_ext",
    0x0310: "device_configuration_request", 0x0311: "device_configuration_ack", 0x0420: "tunnelling_request",
    0x0421: "tunnelling_ack", 0x0422: "tunnelling_feature_get", 0x0423: "tunnelling_feature_response",
    0x0424: "tunnelling_feature_set", 0x0425: "tunnelling_feature_info", 0x0530: "routing_indication",
    0x0531: "routing_lost_message", 0x0532: "routing_busy", 0x0950: "secure_wrapper", 0x0951: "session_request",
    0x0952: "session_response", 0x0953: "session_authenticate", 0x0954: "session_status", 0x0955: "timer_notify",
}
REQUESTS = {0x0201: "search", 0x020B: "search", 0x0203: "description", 0x0205: "connect", 0x0207: "connectionstate",
            0x0209: "disconnect"}
RESPONSES = {0x0202: "search", 0x020C: "search", 0x0204: "description", 0x0206: "connect", 0x0208: "connectionstate",
             0x020A: "disconnect"}
DEVICE_INFO, SERVICE_FAMILIES = 0x01, 0x02  # description information block types
MEDIA = {0x02: "TP1", 0x04: "PL110", 0x10: "RF", 0x20: "KNX IP"}
FAMILIES = {0x02: "core", 0x03: "device_management", 0x04: "tunnelling", 0x05: "routing", 0x06: "remote_logging",
            0x07: "remote_configuration", 0x08: "object_server", 0x09: "security"}
STATUS = {0x00: "OK", 0x01: "host protocol type", 0x02: "version not supported", 0x04: "sequence number",
          0x21: "connection id", 0x22: "connection type", 0x23: "connection option", 0x24: "no more connections",
          0x26: "data connection", 0x27: "KNX connection", 0x29: "tunnelling layer"}
STATUS_AT = {0x0206: 1, 0x0208: 1, 0x020A: 1}  # the status byte: after the channel id
# device information block: length, type, medium, status, address, project, serial, multicast, MAC, name
DEVICE_DIB = struct.Struct(">BBBBH2s6s4s6s30s")


def frame(buf: bytes) -> int:
    if len(buf) < HEADER.size:
        return 0
    length, version, _, total = HEADER.unpack_from(buf)
    if length != HEADER_LENGTH or version != VERSION or total < HEADER.size:
        raise ValueError("not a KNXnet/IP header")
    return total


def detect(payload: bytes) -> bool:
    try:
        n = frame(payload)
        return 0 < n <= len(payload) and struct.unpack_from(">H", payload, 2)[0] in SERVICES
    except ValueError:
        return False


def _address(raw: int) -> str:
    """A KNX individual address: area.line.device."""
    return f"{raw >> 12}.{raw >> 8 & 0x0F}.{raw & 0xFF}"


def _description(body: bytes) -> tuple[dict[str, object], list[Fact]]:
    """A response's information blocks (after the control endpoint, in a search response)."""
    attrs: dict[str, object] = {}
    facts: list[Fact] = []
    pos = 0
    while pos + 2 <= len(body):
        length, kind = body[pos], body[pos + 1]
        if length < 2:
            raise ValueError("KNXnet/IP information block too short")
        block = body[pos : pos + length]
        if kind == DEVICE_INFO:
            _, _, medium, _, address, _, serial, _, mac, name = DEVICE_DIB.unpack_from(block)
            attrs.update(device_name=clean_text(name.split(b"\0")[0]), serial=serial.hex(),
                         mac=":".join(f"{b:02x}" for b in mac), knx_address=_address(address),
                         medium=MEDIA.get(medium, f"0x{medium:02x}"))
            facts += [Fact("device_name", str(attrs["device_name"])), Fact("serial", str(attrs["serial"])),
                      Fact("mac_address", str(attrs["mac"])), Fact("knx_address", str(attrs["knx_address"]))]
        elif kind == SERVICE_FAMILIES:
            attrs["service_families"] = ",".join(FAMILIES.get(f, str(f)) for f in block[2::2])
        pos += length
    return attrs, [f for f in facts if f.value]


def _endpoint(hpai: bytes) -> str:
    """A host protocol address information block: length, protocol, IPv4 address, port."""
    if len(hpai) < 8 or hpai[0] != 8:
        raise ValueError("bad KNXnet/IP endpoint")
    return f"{ipaddress.IPv4Address(hpai[2:6])}:{struct.unpack_from('>H', hpai, 6)[0]}"


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    _, _, service, total = HEADER.unpack_from(pdu)
    body = pdu[HEADER.size : total]
    if len(body) != total - HEADER.size:
        raise ValueError("KNXnet/IP frame truncated")
    session.services.add("knxnet_ip")
    if service in REQUESTS:
        attrs: dict[str, object] = {"service": SERVICES[service]}
        if service in (0x0201, 0x020B, 0x0203):  # search and description requests: where to answer
            attrs["control_endpoint"] = _endpoint(body)
        return [session.ask(REQUESTS[service], Event(REQUESTS[service], attrs=attrs))]
    if service not in RESPONSES:
        return []  # telegrams, acknowledgements, secure sessions: the service is all that is kept
    name = RESPONSES[service]
    event = session.answer(name)
    out: list[Event | Fact] = []
    if event is None:
        event = Event(name, attrs={"service": SERVICES[service]})
        out.append(event)
    event.attrs["reply"] = SERVICES[service]
    status = body[STATUS_AT[service]] if service in STATUS_AT else 0
    event.status = STATUS.get(status, f"0x{status:02x}")
    if name in ("search", "description"):
        attrs, facts = _description(body[8:] if name == "search" else body)
        event.attrs.update(attrs)
        out += facts
    return out


PROTOCOL = Protocol("knxnet_ip", frozenset({"udp", "tcp"}), frozenset({3671}), detect, decode, frame)
