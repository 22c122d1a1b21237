"""LLDP: facts from the corpus frame (alone and through the pipeline's link-layer stage) and an
LLDP-MED one; malformed frames raise only the errors the sensor counts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.decode import lldp
from sensor.decode.spec import MALFORMED


@pytest.fixture
def frame(corpus) -> bytes:
    from scapy.utils import rdpcap

    return bytes(rdpcap(str(corpus / "zeek/Traces/lldp.pcap"))[0])


def test_an_lldp_switch(frame):
    assert int.from_bytes(frame[12:14], "big") == lldp.ETHERTYPE
    neighbor = lldp.parse(frame[14:])
    assert (neighbor.chassis_id, neighbor.port_id, neighbor.port_description) == ("00:22:2d:81:db:10", "1", "Port #1")
    assert lldp.facts(neighbor) == [("hostname", "SMCGS8P-Smart"), ("description", "SMCGS8P-Smart - SMCGS8P-Smart v3.20"),
                                    ("port", "Port #1"), ("capabilities", "bridge"), ("role", "switch"),
                                    ("ip", "192.168.2.10")]


def test_the_pipeline_names_the_switch_by_its_mac(analyse):
    run = analyse("zeek/Traces/lldp.pcap")
    facts = {(o["mac"], o["attribute"]): o["value"] for o in run.observations if o["source"] == "lldp"}
    assert facts[("00:22:2d:81:db:10", "hostname")] == "SMCGS8P-Smart"
    assert facts[("00:22:2d:81:db:10", "role")] == "switch"
    assert [f["service"] for f in run.flows] == ["lldp"] and not run.errors


def tlv(kind: int, value: bytes) -> bytes:
    return ((kind << 9) | len(value)).to_bytes(2, "big") + value


def test_lldp_med_inventory_names_the_device():
    payload = (tlv(1, b"\x04" + bytes.fromhex("00408c6ee61d")) + tlv(2, b"\x07eth0") + tlv(3, b"\x00\x78")
               + tlv(127, lldp.MED_OUI + b"\x09AXIS") + tlv(127, lldp.MED_OUI + b"\x0aP1435-LE")
               + tlv(7, bytes.fromhex("00200020")) + tlv(0, b""))
    assert lldp.facts(lldp.parse(payload)) == [("port", "eth0"), ("capabilities", "telephone"), ("role", "phone"),
                                               ("vendor", "AXIS"), ("model", "P1435-LE")]
    with pytest.raises(ValueError):
        lldp.parse(tlv(3, b"\x00\x78") + tlv(0, b""))  # no chassis id


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), cut=st.integers(0, 400), at=st.integers(0, 400), value=st.integers(0, 255))
def test_malformed_frames_raise_only_countable_errors(frame, data, cut, at, value):
    mutated = bytearray(frame[14:])
    mutated[at % len(mutated)] = value
    for payload in (data, bytes(mutated[: cut or None])):
        try:
            lldp.parse(payload)
        except MALFORMED:
            pass
