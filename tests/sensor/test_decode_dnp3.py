"""DNP3 decoder on real captures: transactions, object headers, unsolicited responses, malformed frames."""

from __future__ import annotations

import time

import pytest

from sensor.decode import dnp3
from sensor.decode.spec import Session


def test_read_and_control_transactions(analyse):
    run = analyse("icsnpp/dnp3/traces/dnp3_example.pcap")
    read = next(e for e in run.events if e["action"] == "READ")
    assert (read["attrs"]["src"], read["attrs"]["dst"], read["attrs"]["objects"]) == ("100", "5", "g60v1")
    assert read["attrs"]["reply_objects"] == "g1v2[0-119],g10v2[0-33],g30v2[0-19],g40v2[0-19]"
    select = next(e for e in run.events if e["action"] == "SELECT")
    assert select["attrs"]["objects"].startswith("g12v1[") and select["attrs"]["reply"] == "RESPONSE"
    assert {f["service"] for f in run.flows} == {"dnp3_tcp"} and not run.errors


def test_unsolicited_responses_and_malformed_frames(analyse):
    run = analyse("zeek/Traces/dnp3/dnp3.pcap")
    assert run.actions("dnp3").count("UNSOLICITED_RESPONSE") == 30
    stop = next(e for e in run.events if e["action"] == "STOP_APPL")
    assert (stop["attrs"]["reply"], stop["attrs"]["iin"]) == ("RESPONSE", "4097")
    assert run.errors == {"dnp3": 8}  # requests whose last object header has qualifier 0xed


def test_dnp3_over_udp(analyse):
    run = analyse("zeek/Traces/dnp3/dnp3_udp_read.pcap")
    assert [f["service"] for f in run.flows] == ["dnp3_udp"]
    assert run.events[0]["attrs"]["iin"] == "36864"


def test_detection_checks_the_header_crc():
    frame = bytes.fromhex("056408c404000300b4b8c0d7007ace")
    assert dnp3.detect(frame) and not dnp3.detect(frame[:8] + b"\x00\x00" + frame[10:])


def link(user: bytes) -> bytes:
    head = bytes([0x05, 0x64, 5 + len(user), 0x44, 1, 0, 2, 0])
    out = head + dnp3._crc(head).to_bytes(2, "little")
    for pos in range(0, len(user), 16):
        block = user[pos : pos + 16]
        out += block + dnp3._crc(block).to_bytes(2, "little")
    return out


def test_fragments_spanning_link_frames_are_reassembled():
    response = bytes.fromhex("c08100000102000009") + bytes(10)  # g1v2, start 0 stop 9, ten flags
    session = Session()
    assert dnp3.decode(link(b"\x40" + response[:12]), False, session) == []  # FIR
    [event] = dnp3.decode(link(b"\x81" + response[12:]), False, session)  # FIN
    assert (event.action, event.attrs["reply_objects"]) == ("RESPONSE", "g1v2[0-9]")


def test_a_huge_object_count_costs_no_time():
    """A count of 2^24 size-prefixed objects in a 10-byte request is a malformed header at once (found
    by bench/fuzz_pipeline.py: the walk took one step per object, minutes for a count of 2^32)."""
    session = Session()
    start = time.perf_counter()
    objects = dnp3._objects(bytes([120, 1, 0x59]) + b"\xff\xff\xff\x00" + b"\0" * 3, False, session)
    assert time.perf_counter() - start < 0.1
    assert (objects, session.malformed) == ("g120v1[16777215]", 1)


def test_fragments_held_across_flows_share_one_budget(monkeypatch):
    """Unfinished fragments of many flows hold at most MAX_HELD bytes together: a start that would
    pass it is given up (malformed); a flow's held start is let go with its state."""
    monkeypatch.setattr(dnp3, "MAX_HELD", 1000)
    sessions = [Session() for _ in range(5)]
    for i in range(4):
        dnp3.decode(link(b"\x40" + bytes(240)), False, sessions[i])  # FIR, no FIN: 240 bytes held
    assert dnp3.Held.total == 960
    with pytest.raises(ValueError, match="budget"):
        dnp3.decode(link(b"\x40" + bytes(41)), False, sessions[4])
    assert "fragment0" not in sessions[4].vars
    dnp3.decode(link(b"\x40" + bytes(40)), False, sessions[4])  # exactly at the budget
    with pytest.raises(ValueError, match="budget"):  # a held start that would grow past it is given up
        dnp3.decode(link(b"\x01" + bytes(1)), False, sessions[0])
    assert dnp3.Held.total == 760
    sessions.clear()
    assert dnp3.Held.total == 0
