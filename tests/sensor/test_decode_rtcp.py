"""RTCP: the loss and jitter endpoints report, at most one report event per flow and minute."""

from __future__ import annotations

import struct

import pytest

from sensor.decode import rtcp
from sensor.decode.spec import Session

SR = (struct.pack(">BBHI", 0x81, 200, 12, 0x1D95389B) + struct.pack(">QIII", 0, 1000, 2500, 400_000)
      + struct.pack(">IB3sIIII", 0xAABBCCDD, 64, (-2 & 0xFFFFFF).to_bytes(3, "big"), 70000, 312, 0, 0))
SDES = struct.pack(">BBHIBB", 0x81, 202, 3, 0x1D95389B, 1, 4) + b"cam1" + bytes(2)
BYE = struct.pack(">BBHI", 0x81, 203, 1, 0x1D95389B)


def test_a_sender_report_with_a_report_block():
    session = Session("udp")
    [event] = rtcp.decode(SR + SDES, True, session)
    assert (event.action, event.attrs["type"], event.attrs["ssrc"]) == ("report", "SR", "0x1d95389b")
    assert (event.attrs["sender_packets"], event.attrs["sender_octets"]) == (2500, 400_000)
    assert (event.attrs["fraction_lost"], event.attrs["cumulative_lost"], event.attrs["jitter"]) == ("0.2500", -2, 312)
    session.ts = 30.0
    assert rtcp.decode(SR, True, session) == []  # within the minute
    session.ts = 61.0
    assert len(rtcp.decode(SR, True, session)) == 1
    assert [e.action for e in rtcp.decode(BYE, True, session)] == ["bye"]


@pytest.mark.parametrize("payload", [SDES, SR[:-4], SR + b"\x00", b"\x80\x60" + bytes(10), b""])
def test_detection_wants_a_whole_compound_starting_with_a_report(payload):
    assert not rtcp.detect(payload)
    assert rtcp.detect(SR + SDES + BYE)
