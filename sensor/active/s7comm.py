"""S7comm module identification: ISO-on-TCP connect (COTP CR), S7 Setup Communication, one
Read SZL of SZL 0x0011 (module identification: order number, hardware and firmware versions),
then the connection is closed. Each message is sent only once the previous one was accepted."""

from __future__ import annotations

import struct

from sensor.active.exchange import Message, Probe

CALLING_TSAP = b"\x01\x00"  # what engineering tools use (PG/PC, rack 0 slot 0)
SZL_MODULE_ID = 0x0011
SETUP_REF, SZL_REF = 1, 2


def tpkt_dt(s7: bytes) -> bytes:
    """TPKT (version 3, length), COTP data (length 2, DT, last data unit), then the S7 PDU."""
    return struct.pack(">BBH", 3, 0, 7 + len(s7)) + b"\x02\xf0\x80" + s7


def connect_request(called: bytes) -> bytes:
    """COTP CR: references, class 0, TPDU size 1024, calling and called TSAP."""
    cotp = b"\xe0\x00\x00\x00\x01\x00" + b"\xc0\x01\x0a" + b"\xc1\x02" + CALLING_TSAP + b"\xc2\x02" + called
    return struct.pack(">BBHB", 3, 0, 5 + len(cotp), len(cotp)) + cotp


def setup_communication() -> bytes:
    params = struct.pack(">BBHHH", 0xF0, 0, 1, 1, 480)  # function, reserved, max AmQ calling/called, PDU size
    return tpkt_dt(struct.pack(">BBHHHH", 0x32, 1, 0, SETUP_REF, len(params), 0) + params)


def read_szl(szl_id: int) -> bytes:
    """User data, CPU functions (group 4), Read SZL (sub-function 1), the SZL's index 0."""
    params = bytes.fromhex("000112041144" "0100")
    data = b"\xff\x09\x00\x04" + struct.pack(">HH", szl_id, 0)
    return tpkt_dt(struct.pack(">BBHHHH", 0x32, 7, 0, SZL_REF, len(params), len(data)) + params + data)


def _connected(answer: bytes) -> bool:
    return len(answer) > 5 and answer[5] & 0xF0 == 0xD0  # COTP CC


def _set_up(answer: bytes) -> bool:
    return len(answer) > 18 and answer[7:9] == b"\x32\x03" and answer[17:19] == b"\x00\x00"  # ACK-Data, no error


def messages(target, settings) -> list[Message]:
    called = settings.tsap
    return [
        Message(connect_request(called),
                f"TPKT + COTP connection request: class 0, TPDU size 1024, calling TSAP {CALLING_TSAP.hex()}, "
                f"called TSAP {called.hex()}", answered=_connected),
        Message(setup_communication(),
                "S7comm job 0xF0 (Setup Communication): max 1 outstanding job each way, PDU size 480",
                answered=_set_up),
        Message(read_szl(SZL_MODULE_ID),
                "S7comm user data, CPU functions, Read SZL 0x0011 index 0 (module identification: "
                "order number, hardware and firmware version); then the connection is closed"),
    ]


PROBE = Probe("s7comm", "s7comm_read_szl", messages)
