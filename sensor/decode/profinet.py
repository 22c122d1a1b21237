"""PROFINET over Ethernet (EtherType 0x8892): DCP, which names and addresses IO devices, and the
RT frames it shares the EtherType with.

The frame id says what follows: DCP (0xFEFC Hello, 0xFEFD Get/Set, 0xFEFE Identify request, 0xFEFF
Identify response), or else RT frames: cyclic data (below 0xFC00, which the link-layer stage
samples), alarms and fragments, of which only the flow's service, "profinet_rt", is noted. A DCP
PDU is service id, service type, xid, a reserved or response-delay word, the data length and
option/suboption blocks. Each DCP PDU is an
event named by its service: a tool's Identify request (with its filter), a device's Identify
response or Hello (what it says about itself), and a Get or Set (answered on the same L2 flow by
the response with its xid; the name, address or control a Set writes is kept, and a Set is the
configuration change to watch). What a device says about itself becomes facts about its MAC:
station name, type of station, vendor and device id (and the vendor and device family they name,
``data/profinet_ids.csv``), the IO-Controller role, its IP address.
"""

from __future__ import annotations

import csv
import ipaddress
import struct
from functools import cache

from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, LinkProtocol, Session
from sensor.decode.tables import data_file

ETHERTYPE = 0x8892
HELLO, GET_SET, IDENTIFY, IDENTIFY_RESPONSE = 0xFEFC, 0xFEFD, 0xFEFE, 0xFEFF
ACYCLIC = 0xFC00  # frame ids from here on: alarms and DCP
SERVICES = {3: "get", 4: "set", 5: "identify", 6: "hello"}
SERVICE_TYPES = {0: "", 1: "OK", 5: "not supported"}
HEADER = struct.Struct(">HBBIHH")  # frame id, service id, service type, xid, reserved/delay, data length
IP, DEVICE, CONTROL, ALL = 1, 2, 5, 255
IP_PARAMETER = (IP, 2)
TYPE_OF_STATION, NAME_OF_STATION, DEVICE_ID, DEVICE_ROLE = (DEVICE, 1), (DEVICE, 2), (DEVICE, 3), (DEVICE, 4)
CONTROLS = {1: "start_transaction", 2: "end_transaction", 3: "signal", 5: "reset_factory_settings",
            6: "reset_to_factory"}
RESPONSE = (CONTROL, 4)
IO_DEVICE, IO_CONTROLLER = 0x01, 0x02  # device role bits
BLOCK_ERRORS = {0: "OK", 1: "option not supported", 2: "suboption not supported", 3: "suboption not set",
                4: "resource error", 5: "set not possible", 6: "in operation"}
MAX_BLOCKS = 32
CONF_VENDOR_ID = 85  # a vendor named by its registered id: above the MAC's OUI (70), below a stated name


@cache
def known_ids() -> dict[tuple[int, int | None], str]:
    """(vendor id, device id or None) → vendor or device family name (``data/profinet_ids.csv``)."""
    with data_file("profinet_ids.csv") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {(int(r["vendor"], 16), int(r["device"], 16) if r["device"] else None): r["name"] for r in rows}


def _id_facts(vendor: int, device: int) -> list[Fact]:
    """The vendor and device family its DCP DeviceID names, when the table knows them."""
    names = known_ids()
    facts = [Fact("vendor", names[(vendor, None)], confidence=CONF_VENDOR_ID)] if (vendor, None) in names else []
    if (vendor, device) in names:
        facts.append(Fact("product", names[(vendor, device)], confidence=CONF_VENDOR_ID))
    return facts


def _blocks(data: bytes) -> list[tuple[tuple[int, int], bytes]]:
    """((option, suboption), value) of each block; blocks are padded to even lengths."""
    out, pos = [], 0
    while pos + 4 <= len(data) and len(out) < MAX_BLOCKS:
        option, suboption, length = struct.unpack_from(">BBH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise ValueError("DCP block truncated")
        out.append(((option, suboption), value))
        pos += 4 + length + (length & 1)
    return out


def _ip(value: bytes) -> dict[str, str]:
    address, netmask, gateway = (str(ipaddress.IPv4Address(value[i : i + 4])) for i in (0, 4, 8))
    return {"ip": address, "netmask": netmask, "gateway": gateway}


def _about_device(blocks: list[tuple[tuple[int, int], bytes]]) -> tuple[dict[str, object], list[Fact]]:
    """What a device says of itself (blocks after their 2-byte BlockInfo): event attrs and facts."""
    attrs: dict[str, object] = {}
    facts: list[Fact] = []
    for key, value in blocks:
        value = value[2:]
        if key == NAME_OF_STATION:
            attrs["name_of_station"] = name = clean_text(value)
            facts.append(Fact("hostname", name))
        elif key == TYPE_OF_STATION:
            attrs["type_of_station"] = model = clean_text(value)
            facts.append(Fact("model", model))
        elif key == DEVICE_ID:
            vendor, device = struct.unpack_from(">HH", value)
            attrs.update(vendor_id=f"0x{vendor:04x}", device_id=f"0x{device:04x}")
            facts += [Fact("profinet_vendor_id", attrs["vendor_id"]), Fact("profinet_device_id", attrs["device_id"]),
                      *_id_facts(vendor, device)]
        elif key == DEVICE_ROLE:
            attrs["device_role"] = f"0x{value[0]:02x}"
            if value[0] & IO_CONTROLLER:
                facts.append(Fact("role", "plc"))
            elif value[0] & IO_DEVICE:  # remote I/O, drives, field devices
                facts.append(Fact("role", "io_device"))
        elif key == IP_PARAMETER:
            attrs.update(_ip(value))
            if attrs["ip"] != "0.0.0.0":
                facts.append(Fact("ip", str(attrs["ip"])))
    return attrs, [fact for fact in facts if fact.value]


def _request(blocks: list[tuple[tuple[int, int], bytes]], qualified: bool) -> dict[str, object]:
    """What an Identify filter or a Set (blocks after their 2-byte BlockQualifier) names."""
    attrs: dict[str, object] = {}
    for key, value in blocks:
        value = value[2:] if qualified else value
        if key == NAME_OF_STATION:
            attrs["name_of_station"] = clean_text(value)
        elif key == IP_PARAMETER:
            attrs.update(_ip(value))
        elif key[0] == CONTROL:
            attrs["control"] = CONTROLS.get(key[1], str(key[1]))
        elif key[0] == ALL:
            attrs["filter"] = "all"
    return attrs


def _status(blocks: list[tuple[tuple[int, int], bytes]]) -> str:
    """A Set or Get response's worst block error."""
    errors = [value[2] for key, value in blocks if key == RESPONSE and len(value) >= 3]
    worst = max(errors, default=0)
    return BLOCK_ERRORS.get(worst, f"error {worst}")


def decode(payload: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    frame_id = struct.unpack_from(">H", payload)[0]
    if not HELLO <= frame_id <= IDENTIFY_RESPONSE:
        session.services.add("profinet_rt")  # cyclic data, an alarm or a fragment
        return []
    _, service, kind, xid, _, length = HEADER.unpack_from(payload)
    data = payload[HEADER.size : HEADER.size + length]
    if len(data) != length or service not in SERVICES:
        raise ValueError("not a DCP PDU")
    blocks = _blocks(data)
    session.services.add("profinet_dcp")
    name = SERVICES[service]
    status = SERVICE_TYPES.get(kind, f"error {kind}")
    if frame_id == IDENTIFY_RESPONSE or frame_id == HELLO:
        attrs, facts = _about_device(blocks)
        return [Event(name, status, {"xid": f"0x{xid:08x}", **attrs}), *facts]
    if frame_id == IDENTIFY:
        return [Event(name, attrs={"xid": f"0x{xid:08x}", **_request(blocks, qualified=False)})]
    if kind == 0:  # a Get or Set request, answered by the response with its xid
        attrs = _request(blocks, qualified=True) if service == 4 else {}
        return [session.ask(xid, Event(name, attrs={"xid": f"0x{xid:08x}", **attrs}))]
    event = session.answer(xid)
    out: list[Event | Fact] = []
    if event is None:
        event = Event(name, attrs={"xid": f"0x{xid:08x}"})
        out.append(event)
    event.status = _status(blocks) if status == "OK" else status
    return out + (_about_device(blocks)[1] if service == 3 and status == "OK" else [])


PROTOCOL = LinkProtocol("profinet", ETHERTYPE, decode, cyclic=lambda frame_ids: frame_ids < ACYCLIC)
