"""Beckhoff ADS over AMS/TCP (port 48898): TwinCAT commands between AMS net ids.

AMS/TCP frames an AMS packet with a reserved word and its length; the 32-byte AMS header names
the target and source (AMS net id and port), the ADS command, state flags (request or response),
the data length, an error code and the invoke id that pairs a request with its response. Each
command is an event with both ends' net ids and ports and, for reads, writes and notifications,
the index group and offset addressed (values are not kept); Write Control names the ADS state it
asks for (Run, Stop, Reset …: a controller's run state changed). A Read Device Info answer gives
the device name and TwinCAT version, a Read State answer the ADS state; the net ids become
facts. Device notifications (cyclic values the device pushes) are not events. Names follow
Wireshark's ams dissector.
"""

from __future__ import annotations

import struct

from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, Protocol, Session

AMS_TCP = struct.Struct("<HI")  # reserved, length
AMS = struct.Struct("<6sH6sHHHIII")  # target net id, port, source net id, port, command, flags, length, error, invoke
COMMANDS = {0: "Invalid", 1: "Read Device Info", 2: "Read", 3: "Write", 4: "Read State", 5: "Write Control",
            6: "Add Device Notification", 7: "Delete Device Notification", 8: "Device Notification",
            9: "Read Write"}
READ_DEVICE_INFO, READ_STATE, WRITE_CONTROL, NOTIFICATION = 1, 4, 5, 8
ADDRESSED = frozenset({2, 3, 6, 9})  # commands whose data starts with index group and offset
RESPONSE, TCP_FLAGS = 0x0001, frozenset({0x0004, 0x0005})  # state flags: ADS command, response bit
STATES = ("Invalid", "Idle", "Reset", "Init", "Start", "Run", "Stop", "SaveCfg", "LoadCfg", "PowerFailure",
          "PowerGood", "Error", "Shutdown", "Suspend", "Resume", "Config", "Reconfig", "Stopping", "Incompatible",
          "Exception")
ERRORS = {0x0000: "OK", 0x0006: "target port not found", 0x0007: "target machine not found",
          0x0701: "service not supported", 0x0702: "invalid index group", 0x0703: "invalid index offset",
          0x0704: "reading/writing not permitted", 0x0705: "parameter size not correct",
          0x0710: "device symbol not found", 0x0712: "device in invalid state"}
MAX_LENGTH = 1 << 20


def net_id(raw: bytes) -> str:
    return ".".join(map(str, raw))


def frame(buf: bytes) -> int:
    if len(buf) < AMS_TCP.size:
        return 0
    reserved, length = AMS_TCP.unpack_from(buf)
    if reserved != 0 or not AMS.size <= length <= MAX_LENGTH:
        raise ValueError("not an AMS/TCP header")
    return AMS_TCP.size + length


def detect(payload: bytes) -> bool:
    """A whole AMS/TCP frame whose AMS header is an ADS command with a consistent data length."""
    try:
        n = frame(payload)
        if n == 0 or n > len(payload):
            return False
        *_, command, flags, length, _, _ = AMS.unpack_from(payload, AMS_TCP.size)
    except (ValueError, struct.error):
        return False
    return command in COMMANDS and flags in TCP_FLAGS and length == n - AMS_TCP.size - AMS.size


def _state(code: int) -> str:
    return STATES[code] if code < len(STATES) else str(code)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    target, target_port, source, source_port, command, flags, length, error, invoke = AMS.unpack_from(
        pdu, AMS_TCP.size)
    data = pdu[AMS_TCP.size + AMS.size :]
    if len(data) != length:
        raise ValueError("AMS data length does not match the frame")
    session.services.add("ads")
    name = COMMANDS.get(command, f"unknown-{command}")
    if not flags & RESPONSE:
        if command == NOTIFICATION:
            return []
        attrs: dict[str, object] = {"target_net_id": net_id(target), "target_port": target_port,
                                    "source_net_id": net_id(source), "source_port": source_port, "invoke_id": invoke}
        if command in ADDRESSED:
            group, offset = struct.unpack_from("<II", data)
            attrs.update(index_group=f"0x{group:08x}", index_offset=f"0x{offset:08x}")
        elif command == WRITE_CONTROL:
            attrs["ads_state"] = _state(struct.unpack_from("<H", data)[0])
        return [session.ask(invoke, Event(name, attrs=attrs)), Fact("ams_net_id", net_id(source)),
                Fact("ams_net_id", net_id(target), about_sender=False)]
    event = session.answer(invoke)
    out: list[Event | Fact] = [Fact("ams_net_id", net_id(source))]
    if event is None:  # request not seen
        event = Event(name, attrs={"target_net_id": net_id(source), "target_port": source_port,
                                   "source_net_id": net_id(target), "source_port": target_port, "invoke_id": invoke})
        out.append(event)
    result = error or (struct.unpack_from("<I", data)[0] if len(data) >= 4 else 0)
    event.status = ERRORS.get(result, f"error 0x{result:04x}")
    if result == 0 and command == READ_DEVICE_INFO:  # result, version major, minor, build, device name
        major, minor, build = struct.unpack_from("<BBH", data, 4)
        out += [Fact("product", clean_text(data[8:24].split(b"\0")[0])), Fact("firmware", f"{major}.{minor}.{build}")]
    elif result == 0 and command == READ_STATE:
        event.attrs["ads_state"] = _state(struct.unpack_from("<H", data, 4)[0])
    return [item for item in out if not isinstance(item, Fact) or item.value]


PROTOCOL = Protocol("ads", frozenset({"tcp"}), frozenset({48898}), detect, decode, frame)
