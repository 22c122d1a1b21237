"""CDP: facts from the corpus frame (alone and through the pipeline's link-layer stage); malformed
frames raise only the errors the sensor counts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.decode import cdp
from sensor.decode.spec import MALFORMED


@pytest.fixture
def frame(corpus) -> bytes:
    from scapy.utils import rdpcap

    return bytes(rdpcap(str(corpus / "zeek/Traces/cdp-v1.pcap"))[0])


def test_a_cdp_router(frame):
    assert frame[14:22] == cdp.SNAP_HEADER  # an 802.3 frame: length, then LLC/SNAP
    assert cdp.facts(cdp.parse(frame[14:])) == [
        ("hostname", "R1"), ("model", "cisco 1601"),
        ("os", "IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1)"), ("port", "Ethernet0"),
        ("capabilities", "router"), ("role", "router"), ("vendor", "Cisco"), ("ip", "192.168.10.1")]
    with pytest.raises(ValueError):
        cdp.parse(frame[22:])


def test_the_pipeline_finds_cdp_among_802_3_frames(analyse):
    run = analyse("zeek/Traces/cdp-v1.pcap")
    facts = {(o["mac"], o["ip"], o["attribute"]): o["value"] for o in run.observations if o["source"] == "cdp"}
    assert facts[("00:e0:1e:d5:d5:15", "", "role")] == "router"
    assert facts[("00:e0:1e:d5:d5:15", "192.168.10.1", "ip")] == "192.168.10.1"
    assert [f["service"] for f in run.flows] == ["cdp"] and not run.errors


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), cut=st.integers(0, 400), at=st.integers(8, 400), value=st.integers(0, 255))
def test_malformed_frames_raise_only_countable_errors(frame, data, cut, at, value):
    mutated = bytearray(frame[14:])
    mutated[at % len(mutated)] = value
    for payload in (cdp.SNAP_HEADER + data, bytes(mutated[: cut or None])):
        try:
            cdp.parse(payload)
        except MALFORMED:
            pass
