"""CC-Link IE Field and CC-Link IE Control (EtherType 0x890F): frame types, node numbers and
node types, and the commands of transient messages, as nttcom's Zeek parser names them
(zeek-parser-CCLinkField-CCLinkControl, read against its traces).

Every frame starts with a 14-byte header: frame type, then (Field frames) data type, node id,
two type-specific bytes (connection info; sync flag and node type), the sender's node number,
the protocol type (0 Control, 1 Field; TSN devices use others) and a HEC; Control frames carry a
priority and scan number instead and are always Control. Each frame is an event named by its frame type (``tokenM``,
``cyclicDataRWr``, ``transient1`` …) under the protocol its header names (``cclink_ie_field``,
``cclink_ie_control``); the link-layer stage keeps one of each per interval, as nttcom's log
aggregates them, and samples the cyclic ones to one frame per type and second. Transient frames,
which carry commands (run, stop, memory read and write, SLMP), all reach the decoder. A master
(Field) or management (Control) node is a controller. CC-Link IE TSN frames (types 0xC0 and up)
are named by their type only.
"""

from __future__ import annotations

import struct

import numpy as np

from sensor.decode.spec import Event, Fact, LinkProtocol, Session

ETHERTYPE = 0x890F
HEADER = 14
FIELD_FRAMES = {
    0x10: "persuasion", 0x11: "testData", 0x12: "testDataAck", 0x13: "setup", 0x14: "setupAck", 0x15: "tokenM",
    0x1C: "timer", 0x20: "myStatus", 0x22: "transient1", 0x23: "transientAck", 0x25: "transient2",
    0x26: "ipTransient", 0x28: "paramCheck", 0x29: "parameter", 0x40: "measure", 0x41: "measureAck",
    0x42: "offset", 0x43: "update", 0x82: "cyclicDataRWw", 0x83: "cyclicDataRY", 0x84: "cyclicDataRWr",
    0x85: "cyclicDataRX",
}
CONTROL_FRAMES = {
    0x00: "connect", 0x01: "connectAck", 0x02: "scan", 0x03: "collect", 0x04: "select", 0x05: "launch",
    0x06: "token", 0x24: "dummy", 0x2F: "nTNTest", 0x80: "cyclicDataW", 0x81: "cyclicDataB",
    0x8C: "cyclicDataOut1", 0x8D: "cyclicDataOut2", 0x8E: "cyclicDataIn1", 0x8F: "cyclicDataIn2",
}
TSN = 0xC0  # CC-Link IE TSN frame types from here on
TRANSIENT = frozenset({0x22, 0x23, 0x25, 0x26, 0x28, 0x29})  # messages, not cyclic
NODE_ID = frozenset({0x13, 0x15, 0x20, 0x22, 0x23, 0x25, 0x26, 0x28, 0x29, 0x40, 0x41, 0x42, 0x43, 0x82, 0x83,
                     0x84, 0x85})
CONNECTION_INFO = frozenset({0x22, 0x23, 0x25, 0x26, 0x28, 0x29})
NODE_TYPE = frozenset({0x10, 0x11, 0x12, 0x20})
CONTROL, FIELD = 0, 1  # protocol types; others (CC-Link IE TSN's) are named by number
PROTOCOL_TYPES = {CONTROL: "cclink_ie_control", FIELD: "cclink_ie_field"}
NODE_TYPES = {FIELD: {0x30: "master node", 0x32: "local node", 0x33: "intelligent device node",
                      0x34: "remote device node", 0x35: "remote I/O node"},
              CONTROL: {0x00: "management node", 0x02: "normal node", 0x21: "master node in the Node-to-node test"}}
CONTROLLERS = frozenset({"master node", "management node"})
# transient1 commands by data type: 5 SLMP (its command type byte), 7 IE Field, 8 IE Field Motion
SLMP_TYPES = {0x30: "slmpTransmitRequest", 0xB0: "slmpTransmitResponse"}
FIELD_COMMANDS = {0x01: "deliverNodeInformation", 0x03: "getStatisticalInformation",
                  0x04: "acquiresDetailedNodeInformation", 0x0A: "acquiresOptionalInformation"}
MOTION_COMMANDS = {0x01: "communicationCycleSetting", 0x02: "objectRead", 0x03: "objectWrite"}
SUB_COMMANDS = {0x00: "Request", 0x80: "Response"}
TRANSIENT2_COMMANDS = {0x04: "getMemoryAccessInfo", 0x08: "run", 0x09: "stop", 0x10: "readMemory",
                       0x12: "writeMemory", 0x20: "messageTransfer"}  # messageTransfer: Field only
CONF_CONTROLLER = 60


def _transient1(frame: bytes) -> str:
    """A transient1 command: after the header and a 16-byte message header, per data type."""
    kind = frame[1]
    if kind == 5:
        code = frame[HEADER + 16 + 22]
        return SLMP_TYPES.get(code, f"unknownCt-0x{code:02x}")
    if kind in (7, 8):
        command, sub = frame[HEADER + 16], frame[HEADER + 17]
        name = (FIELD_COMMANDS if kind == 7 else MOTION_COMMANDS).get(command)
        return name + SUB_COMMANDS[sub] if name and sub in SUB_COMMANDS else f"unknownCmd-0x{command:02x}{sub:02x}"
    return ""


def decode(payload: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    kind = payload[0]
    if kind >= TSN:
        session.services.add("cclink_ie_tsn")
        return [Event(f"frameType-0x{kind:02x}", protocol="cclink_ie_tsn")]
    if len(payload) < HEADER:
        raise ValueError("CC-Link IE header truncated")
    node_number = f"0x{payload[6:8].hex()}"
    if kind in CONTROL_FRAMES:
        network, name = CONTROL, CONTROL_FRAMES[kind]
    elif kind in FIELD_FRAMES:
        network, name = payload[8], FIELD_FRAMES[kind]
    else:
        raise ValueError(f"unknown CC-Link IE frame type 0x{kind:02x}")
    protocol = PROTOCOL_TYPES.get(network, "cclink_ie")
    attrs: dict[str, object] = {"src_node_number": node_number}
    if protocol == "cclink_ie":
        attrs["protocol_type"] = f"0x{network:02x}"
    if kind in NODE_ID:
        attrs["node_id"] = struct.unpack_from(">H", payload, 2)[0]
    if kind in CONNECTION_INFO:
        attrs["connection_info"] = f"0x{payload[4]:02x}"
    if kind in NODE_TYPE:
        attrs["node_type"] = NODE_TYPES.get(network, {}).get(payload[5], f"unknownNodetype-0x{payload[5]:02x}")
    if kind == 0x22 and network == FIELD:
        attrs["cmd"] = _transient1(payload)
    elif kind == 0x25:
        code = payload[HEADER + 22]
        known = code in TRANSIENT2_COMMANDS and (network == FIELD or code != 0x20)
        attrs["cmd"] = TRANSIENT2_COMMANDS[code] if known else f"unknownCt-0x{code:02x}"
    session.services.add(protocol)
    out: list[Event | Fact] = [Event(name, protocol=protocol, attrs=attrs)]
    if attrs.get("node_type") in CONTROLLERS:
        out.append(Fact("role", "plc", confidence=CONF_CONTROLLER))
    return out


PROTOCOL = LinkProtocol("cclink_ie", ETHERTYPE, decode,
                        cyclic=lambda types: ~np.isin(types >> 8, tuple(TRANSIENT)))
