"""KNXnet/IP: the corpus's search requests (UDP multicast) and tunnelling frames (TCP); a search
response's device information as facts (the corpus has none: built from the specification's
layout)."""

from __future__ import annotations

from sensor.decode import knxip
from sensor.decode.spec import Event, Fact, Session


def test_searches_and_tunnels_in_the_corpus(analyse):
    run = analyse("ndpi/knxip.pcapng")
    assert [(e["action"], e["attrs"]["service"], e["attrs"]["control_endpoint"]) for e in run.events] == [
        ("search", "search_request_ext", "192.168.88.231:41343"), ("search", "search_request", "192.168.88.231:41343")]
    assert sorted((f["proto"], f["service"]) for f in run.flows) == [("tcp", "knxnet_ip"), ("udp", "knxnet_ip")]
    assert not run.errors


def test_a_search_response_names_the_device():
    name = b"KNX IP Router 752".ljust(30, b"\0")
    device = (bytes.fromhex("3601020011010000") + bytes.fromhex("00fa12345678") + bytes.fromhex("e000170c")
              + bytes.fromhex("00246d012345") + name)
    families = bytes.fromhex("0a020201030104010501")
    body = bytes.fromhex("08010a0000050e57") + device + families
    pdu = bytes.fromhex("06100202") + (6 + len(body)).to_bytes(2, "big") + body
    assert knxip.detect(pdu) and knxip.frame(pdu) == len(pdu)
    items = knxip.decode(pdu, False, Session("udp"))
    [event] = [i for i in items if isinstance(i, Event)]
    assert (event.action, event.status, event.attrs["device_name"], event.attrs["knx_address"], event.attrs["medium"],
            event.attrs["service_families"]) == ("search", "OK", "KNX IP Router 752", "1.1.1", "TP1",
                                                 "core,device_management,tunnelling,routing")
    assert {(f.attribute, f.value) for f in items if isinstance(f, Fact)} == {
        ("device_name", "KNX IP Router 752"), ("serial", "00fa12345678"), ("mac_address", "00:24:6d:01:23:45"),
        ("knx_address", "1.1.1")}
    assert not knxip.detect(pdu[:5]) and not knxip.detect(b"\x06\x20" + pdu[2:])
