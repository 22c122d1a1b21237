"""EtherNet/IP + CIP decoder on real captures: List Identity, CIP services, Multiple Service Packet, I/O."""

from __future__ import annotations

import struct

from sensor.decode import cip, enip
from sensor.decode.spec import Session


def test_list_identity_names_the_device(analyse):
    run = analyse("icsnpp/enip/traces/enip_cip_example.pcap")
    [identity] = [e for e in run.events if e["action"] == "List Identity"]
    attrs = identity["attrs"]
    assert (attrs["vendor"], attrs["device_type"], attrs["product_name"], attrs["serial"], attrs["revision"]) == (
        "Rockwell Automation/Allen-Bradley", "Communications Adapter", "1756-ENBT/A", "0x00524d8e", "4.3")
    assert run.facts("10.1.1.164") == {
        "vendor": "Rockwell Automation/Allen-Bradley", "device_type": "Communications Adapter",
        "product": "1756-ENBT/A", "firmware": "4.3", "serial": "0x00524d8e", "protocol_served": "enip"}


def test_multiple_service_packet_yields_each_service(analyse):
    run = analyse("icsnpp/enip/traces/multiple_service_packet_cip.pcapng")
    services = [(e["action"], e["attrs"].get("class")) for e in run.events]
    assert services[0] == ("Multiple Service Packet", "0x02")
    assert services[1:] == [("Get Attribute List", c) for c in
                            ("0x01", "0x69", "0x73", "0xac", "0x68", "0x70", "0x8e", "0x69", "0x68", "0x77", "0x8b")]


def test_cyclic_io_is_recognised_then_left_to_the_flow_record(analyse):
    run = analyse("icsnpp/enip/traces/enip_cip_example.pcap")
    [io] = [f for f in run.flows if f["resp_p"] == 2222]
    assert io["service"] == "cip"
    assert not [e for e in run.events if e["uid"] == io["uid"]]


def test_set_attribute_single_on_the_identity_object(analyse):
    [event] = analyse("icsnpp/enip/traces/set_attribute_single_service_cip.pcapng").events
    assert (event["action"], event["attrs"]["class_name"], event["attrs"]["enip_command"]) == (
        "Set Attribute Single", "Identity", "Send Unit Data")


def test_request_paths_with_tags_ports_and_wide_ids():
    path = bytes.fromhex("91065370656564312800") + bytes.fromhex("2100f500250001003003")
    assert cip.parse_path(path[:10]) == {"tag": "Speed1", "member": 0}
    assert cip.parse_path(path[10:]) == {"class": 0xF5, "instance": 1, "attribute": 3}
    assert cip.parse_path(bytes.fromhex("01002006")) == {"class": 6}  # port 1, link 0, then class


def test_unconnected_write_tag_and_its_error():
    session = Session()
    request = bytes([0x4D, 3]) + bytes.fromhex("91044d6f746f") + b"\xc1\x00\x01\x00\x01"
    answer = bytes([0xCD, 0, 0x05, 0])
    wrap = lambda msg: struct.pack("<HHII8sI", 0x6F, 16 + len(msg), 1, 0, b"ctx00001", 0) + \
        struct.pack("<IHHHHHH", 0, 0, 2, 0, 0, 0xB2, len(msg)) + msg
    [event] = enip.decode(wrap(request), True, session)
    assert enip.decode(wrap(answer), False, session) == []
    assert (event.action, event.attrs["tag"], event.status) == ("Write Tag", "Moto", "Path destination unknown")


def test_vendor_and_device_type_names_are_pycomm3_s():
    from pycomm3.cip.status_info import PRODUCT_TYPES, VENDORS

    from sensor.decode.tables import id_names

    for name, table, copy in ((cip.vendor_name, VENDORS, "cip_vendors"),
                              (cip.device_type_name, PRODUCT_TYPES, "cip_device_types")):
        ids = [key for key in table if isinstance(key, int)]  # (pycomm3's tables map names to ids too)
        assert [name(key) for key in ids] == [table[key] for key in ids]
        assert sorted(id_names(copy)) == sorted(ids)  # and no id of the copy's own
        assert name(max(ids) + 1) == ""
