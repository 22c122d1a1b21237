"""Modbus Read Device Identification (function 43, MEI type 14): the basic objects (vendor,
product code, revision), then the regular ones (vendor URL, product name, model name, user
application name), addressed to the unit id the device's clients use."""

from __future__ import annotations

import struct

from sensor.active.exchange import Message, Probe

READ_DEVICE_ID = (0x2B, 0x0E)
BASIC, REGULAR = 0x01, 0x02  # read device id codes (stream access)
FIRST_REGULAR_OBJECT = 0x03


def request(tid: int, unit: int, code: int, first_object: int) -> bytes:
    return struct.pack(">HHHBBBBB", tid, 0, 5, unit, *READ_DEVICE_ID, code, first_object)


def messages(target, settings) -> list[Message]:
    unit = target.unit
    return [
        Message(request(1, unit, BASIC, 0),
                f"MBAP transaction 1, protocol 0, length 5, unit {unit}; function 43 (Encapsulated Interface "
                "Transport), MEI 14 (Read Device Identification), code 1 (basic), from object 0: "
                "vendor name, product code, revision"),
        Message(request(2, unit, REGULAR, FIRST_REGULAR_OBJECT),
                f"MBAP transaction 2, unit {unit}; function 43, MEI 14, code 2 (regular), from object 3: "
                "vendor URL, product name, model name, user application name"),
    ]


PROBE = Probe("modbus", "modbus_read_device_identification", messages)
