"""EtherNet/IP List Identity (encapsulation command 0x63): no session, no CIP request; the
device answers with its Identity (vendor, device type, product code, revision, serial, name).
Over TCP when the device was seen serving TCP 44818, else as a unicast UDP datagram."""

from __future__ import annotations

import struct

from sensor.active.exchange import Message, Probe

LIST_IDENTITY = 0x0063
HEADER = struct.Struct("<HHII8sI")  # command, length, session handle, status, sender context, options


def messages(target, settings) -> list[Message]:
    return [Message(HEADER.pack(LIST_IDENTITY, 0, 0, 0, bytes(8), 0),
                    f"encapsulation header over {target.transport.upper()}: command 0x0063 (List Identity), "
                    "length 0, session 0, status 0, sender context 0, options 0")]


PROBE = Probe("enip", "enip_list_identity", messages)
