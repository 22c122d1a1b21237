"""BACnet/IP ReadPropertyMultiple (a confirmed read) of the device object's vendor-name,
model-name, firmware-revision and application-software-version, by the instance the device
announced in an I-Am, else by the wildcard instance 4194303 ("the device receiving this")."""

from __future__ import annotations

import struct

from sensor.active.exchange import Message, Probe

WILDCARD = 4194303
DEVICE = 8
READ_PROPERTY_MULTIPLE = 14
PROPERTIES = ((121, "vendor-name"), (70, "model-name"), (44, "firmware-revision"),
              (12, "application-software-version"))
INVOKE_ID = 1


def read_device(instance: int) -> bytes:
    apdu = (bytes([0x00, 0x05, INVOKE_ID, READ_PROPERTY_MULTIPLE]) + b"\x0c" + struct.pack(">I", DEVICE << 22 | instance)
            + b"\x1e" + b"".join(bytes([0x09, number]) for number, _ in PROPERTIES) + b"\x1f")
    npdu = b"\x01\x04" + apdu  # version 1, a reply expected
    return struct.pack(">BBH", 0x81, 0x0A, 4 + len(npdu)) + npdu


def messages(target, settings) -> list[Message]:
    instance = WILDCARD if target.instance is None else target.instance
    how = "wildcard instance" if target.instance is None else "as its I-Am announced"
    names = ", ".join(name for _, name in PROPERTIES)
    return [Message(read_device(instance),
                    f"BVLC original unicast, NPDU expecting a reply; confirmed request (invoke id {INVOKE_ID}, "
                    f"max APDU 1476) ReadPropertyMultiple of device {instance} ({how}): {names}")]


PROBE = Probe("bacnet", "bacnet_read_device_properties", messages)
