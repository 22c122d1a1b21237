"""MELSEC SLMP decoder (binary 3E/4E frames): remote stop/run, device access, CPU model."""

from __future__ import annotations

import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sensor.decode import slmp
from sensor.decode.spec import Session


def request(command: int, subcommand: int = 0, data: bytes = b"", serial: int | None = None) -> bytes:
    body = struct.pack("<HHH", 0x0010, command, subcommand) + data
    head = b"\x50\x00" if serial is None else b"\x54\x00" + struct.pack("<H", serial) + b"\x00\x00"
    return head + struct.pack("<BBHBH", 0, 0xFF, 0x03FF, 0, len(body)) + body


def response(end: int = 0, data: bytes = b"", serial: int | None = None) -> bytes:
    body = struct.pack("<H", end) + data
    head = b"\xd0\x00" if serial is None else b"\xd4\x00" + struct.pack("<H", serial) + b"\x00\x00"
    return head + struct.pack("<BBHBH", 0, 0xFF, 0x03FF, 0, len(body)) + body


def test_remote_stop_and_its_answer():
    session = Session()
    [event] = slmp.decode(request(0x1002, data=b"\x01\x00"), True, session)
    assert slmp.decode(response(), False, session) == []
    assert (event.action, event.status, event.attrs["command"]) == ("Remote Stop", "OK", "0x1002")


def test_device_read_names_the_device_range():
    session = Session()
    data = (100).to_bytes(3, "little") + bytes([0xA8]) + struct.pack("<H", 10)
    [event] = slmp.decode(request(0x0401, data=data), True, session)
    slmp.decode(response(0xC059), False, session)
    assert (event.attrs["device"], event.attrs["address"], event.attrs["points"], event.status) == ("D", 100, 10, "0xc059")


def test_4e_serial_numbers_pair_requests_and_type_name_is_a_fact():
    session = Session()
    run, = slmp.decode(request(0x1001, serial=7), True, session)
    name, = slmp.decode(request(0x0101, serial=8), True, session)
    facts = slmp.decode(response(data=b"Q06UDVCPU       \x66\x02", serial=8), False, session)
    assert slmp.decode(response(0x4031, serial=7), False, session) == []
    assert (run.status, name.status, facts[0].value) == ("0x4031", "OK", "Q06UDVCPU")


def test_remote_run_over_udp_on_any_port(make_pcap, analyse_path):
    frames = [(1_700_000_000_000_000 + i * 1000, bytes(Ether() / IP(src=src, dst=dst) / UDP(sport=sp, dport=dp) / p))
              for i, (src, dst, sp, dp, p) in enumerate([("10.0.0.1", "10.0.0.2", 40001, 6000, request(0x1001)),
                                                         ("10.0.0.2", "10.0.0.1", 6000, 40001, response())])]
    run = analyse_path(make_pcap(frames))
    assert [(e["action"], e["status"]) for e in run.events] == [("Remote Run", "OK")]
    assert run.flows[0]["service"] == "slmp"


def test_detection():
    assert slmp.detect(request(0x0401, data=bytes(6)))
    assert not slmp.detect(request(0x7777))  # unknown command
    assert not slmp.detect(request(0x0401)[:-1])  # length disagrees
    assert not slmp.detect(b"5000FF03FF000018")  # ASCII frames are not decoded
