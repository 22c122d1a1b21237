"""PROFINET IO-CM decoder on real captures and built headers: operations answered, answers from
another port, fragmented requests, errors, flow control, both byte orders."""

from __future__ import annotations

import struct
import uuid
from collections import Counter

from sensor.decode import pnio_cm
from sensor.decode.spec import Session

DEVICE = uuid.UUID("dea00001-6c97-11d1-8271-00a02442df7d")
ACTIVITY = uuid.UUID("13142f90-0000-1000-a994-d2106890ca5a")


def _pdu(kind: int, body: bytes = b"", little: bool = False, interface: uuid.UUID = DEVICE, opnum: int = 2) -> bytes:
    """A connectionless RPC header (sequence number 7) and its body."""
    order = "<" if little else ">"
    ids = b"".join(u.bytes_le if little else u.bytes for u in (uuid.UUID(int=1), interface, ACTIVITY))
    return (bytes([4, kind, 0x20, 0, 0x10 if little else 0, 0, 0, 0]) + ids
            + struct.pack(order + "IIIHHHHHBB", 3, 1, 7, opnum, 0, 0, len(body), 0, 0, 0) + body)


def test_operations_and_their_answers(analyse):
    run = analyse("icsnpp/profinet-io-cm/traces/profinet_io_cm_read.pcapng")
    [implicit, *_] = [e for e in run.events if e["action"] == "Read Implicit" and e["status"] == "OK"]
    attrs = implicit["attrs"]
    assert (attrs["interface"], attrs["interface_version"], attrs["seq"], attrs["reply"]) == ("device", "1.0", "0", "Response")
    assert attrs["activity_uuid"] == "ECBAABDB-001D-4354-B250-0B01630ABAFD"  # little-endian header, canonical UUID
    assert float(attrs["rtt"]) > 0 and {f["service"] for f in run.flows} == {"profinet_io_cm"}


def test_an_answer_from_another_port_stands_alone(analyse):
    run = analyse("icsnpp/profinet-io-cm/traces/profinet_io_cm_connect_minimal.pcapng")
    request, response = run.events
    assert (request["action"], request["status"], request["resp_p"]) == ("Connect", "", 34964)
    assert (response["action"], response["status"], response["attrs"]["packet_type"]) == ("Connect", "OK", "Response")
    assert request["attrs"]["activity_uuid"] == response["attrs"]["activity_uuid"]


def test_fragments_and_errors(analyse):
    writes = analyse("icsnpp/profinet-io-cm/traces/profinet_io_cm_write.pcapng").events
    assert sorted(e["attrs"]["fragments"] for e in writes if "fragments" in e["attrs"]) == ["2", "2", "2"]
    connects = Counter(e["status"] for e in analyse("icsnpp/profinet-io-cm/traces/profinet_io_cm_connect.pcapng").events)
    assert connects["pnio_status 0xdb814004"] == 83 and connects["OK"] == 79


def test_byte_orders_faults_and_flow_control():
    for little in (False, True):
        session = Session("udp")
        assert pnio_cm.detect(_pdu(0, little=little))
        [event] = pnio_cm.decode(_pdu(0, bytes(4), little), True, session)
        assert pnio_cm.decode(_pdu(1, little=little), True, session) == []  # ping
        assert pnio_cm.decode(_pdu(3, struct.pack("<I" if little else ">I", 0x1C010003), little), False, session) == []
        assert (event.action, event.status, event.attrs["reply"], event.attrs["flags"]) == (
            "Read", "fault 0x1c010003", "Fault", "idempotent")
    assert not pnio_cm.detect(_pdu(0, interface=uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")))  # endpoint mapper
    assert not pnio_cm.detect(_pdu(0, bytes(4))[:83])  # body cut short
