"""BACnet/IP decoder on real captures and built frames: services, errors, discovery, device facts,
vendor names from I-Am vendor ids."""

from __future__ import annotations

from collections import Counter

from sensor import simulate
from sensor.decode import bacnet
from sensor.decode.spec import Event, Fact, Session


def _i_am(vendor: int, npdu: str = "0100") -> bytes:
    """A broadcast BVLL I-Am of device 101 (max APDU 1476, segmentation both) with ``vendor`` as its
    vendor id (an application-tagged unsigned of 1 or 2 octets)."""
    size = 1 if vendor < 256 else 2
    apdu = bytes.fromhex("1000" "c402000065" "2205c4" "9100") + bytes([0x20 | size]) + vendor.to_bytes(size, "big")
    body = bytes.fromhex(npdu) + apdu
    return bytes.fromhex("810b") + (4 + len(body)).to_bytes(2, "big") + body


def test_services_and_their_answers(analyse):
    run = analyse("icsnpp/bacnet/traces/bacnet_services.pcap")
    seen = Counter((e["action"], e["status"]) for e in run.events)
    assert seen[("read_property", "OK")] > 3000 and seen[("atomic_write_file", "OK")] == 63
    assert seen[("reinitialize_device", "password-failure")] == 2
    write = next(e for e in run.events if e["action"] == "write_property")
    assert (write["attrs"]["object_type"], write["attrs"]["instance"], write["attrs"]["property"]) == (
        "analog-output", "101", "present-value")


def test_i_am_announces_device_and_vendor(analyse):
    run = analyse("icsnpp/bacnet/traces/bacnet_error_reject_abort.pcap")
    [i_am] = [e for e in run.events if e["action"] == "i_am"]
    assert (i_am["attrs"]["object_type"], i_am["attrs"]["instance"], i_am["attrs"]["vendor_id"]) == ("device", "101", "1337")
    assert run.facts("10.10.10.10")["bacnet_device_id"] == "101"
    statuses = {e["attrs"].get("reply"): e["status"] for e in run.events}
    assert statuses["REJECT_PDU"] == "unrecognized-service" and statuses["ABORT_PDU"] == "other"


def test_device_object_strings_become_facts(analyse):
    facts = analyse("iti/BACnet/bacnet_test.pcap").facts("10.1.1.165")
    assert (facts["vendor"], facts["model"], facts["firmware"]) == ("JCI", "MS-NAE4510-2", "5.1.0.4400")


def test_detection_tolerates_a_wrong_bvll_length_but_not_other_traffic():
    assert bacnet.detect(bytes.fromhex("810a001101045001149105911a"))  # length says 17, 13 bytes sent
    assert bacnet.detect(bytes.fromhex("810b0007018000"))  # who-is-router-to-network
    assert not bacnet.detect(bytes.fromhex("810a000d02045001149105911a"))  # NPDU version 2
    assert not bacnet.detect(b"\x81\x0a\x00\x05\x01")  # nothing after the NPDU version


def test_i_am_vendor_id_names_the_vendor():
    """A spec-built I-Am: the vendor id stays, and ASHRAE's registry names the vendor, ranked below
    the vendor-name string a device reports itself."""
    items = bacnet.decode(_i_am(5), True, Session("udp"))
    [event] = [item for item in items if isinstance(item, Event)]
    assert (event.action, event.attrs["instance"], event.attrs["vendor_id"]) == ("i_am", 101, 5)
    facts = {fact.attribute: fact for fact in items if isinstance(fact, Fact)}
    assert facts["bacnet_vendor_id"].value == "5" and facts["bacnet_device_id"].value == "101"
    assert facts["vendor"] == Fact("vendor", "Johnson Controls, Inc.", confidence=bacnet.CONF_VENDOR_ID)
    assert bacnet.CONF_VENDOR_ID < Fact("vendor", "").confidence  # the device's own vendor-name wins


def test_unregistered_or_relayed_vendor_ids_name_no_vendor():
    for unnamed in (999, 65000):  # reserved by ASHRAE, not (yet) assigned
        items = bacnet.decode(_i_am(unnamed), True, Session("udp"))
        vendor_facts = [(f.attribute, f.value) for f in items if isinstance(f, Fact) and "vendor" in f.attribute]
        assert vendor_facts == [("bacnet_vendor_id", str(unnamed))]
    routed = bacnet.decode(_i_am(5, npdu="0108" "0001" "01" "07"), True, Session("udp"))  # SNET 1, SADR 7
    assert [item.action for item in routed] == ["i_am"]  # a router sent it, not the device: no facts


def test_vendor_table_is_ashraes_registry():
    vendors = bacnet.vendors()
    assert len(vendors) > 1400 and vendors[0] == "ASHRAE" and vendors[8] == "Delta Controls"
    assert vendors[260] == "BACnet Stack at SourceForge" and vendors[1096] == "Moxa Inc."
    assert not any("reserved" in name.lower() for name in vendors.values())
    assert bacnet.vendors() is vendors  # read once


def test_i_am_vendor_names_on_real_captures(analyse):
    services = analyse("icsnpp/bacnet/traces/bacnet_services.pcap")
    for ip, vendor_id, vendor in (("192.168.0.16", "42", "Acuity Brands Lighting, Inc."),
                                  ("192.168.0.24", "24", "Automated Logic Corporation")):
        facts = services.facts(ip)
        assert (facts["bacnet_vendor_id"], facts["vendor"]) == (vendor_id, vendor)
    named = {(o["value"], o["source"], o["confidence"]) for o in services.observations
             if o["ip"] == "192.168.0.24" and o["attribute"] == "vendor"}  # one per interval
    assert named == {("Automated Logic Corporation", "bacnet", bacnet.CONF_VENDOR_ID)}
    assert analyse("ndpi/bacnet.pcap").facts("204.172.177.255")["vendor"] == "BACnet Stack at SourceForge"


def _segmented(answer: bytes, size: int, order: list[int] | None = None) -> list[bytes]:
    """``answer`` (a BVLL ComplexACK, unsegmented) cut into segments of ``size`` service-data bytes:
    flags SEG (and MOR but on the last), invoke id, sequence number, window 4, service, data."""
    apdu = answer[6:]
    invoke, service, data = apdu[1], apdu[2], apdu[3:]
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    frames = [simulate.bacnet_apdu(bytes([0x38 | (0x04 if n < len(chunks) - 1 else 0), invoke, n, 4, service]) + chunk)
              for n, chunk in enumerate(chunks)]
    return [frames[n] for n in (order or range(len(frames)))]


def _decoded(request: bytes, segments: list[bytes]) -> tuple[list[Event], list[Fact], Session]:
    session = Session("udp")
    items = bacnet.decode(request, True, session)
    for segment in segments:
        items += bacnet.decode(segment, False, session)
    return ([i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Fact)], session)


def test_a_segmented_answer_about_the_device_gives_its_identity_and_one_event():
    request, answer = simulate.bacnet_device_properties(invoke=7)
    whole = {(f.attribute, f.value) for f in _decoded(request, [answer])[1]}
    assert {"vendor", "model", "firmware"} <= {attribute for attribute, _ in whole}
    segments = _segmented(answer, 16)
    assert len(segments) >= 4
    events, facts, session = _decoded(request, segments)
    assert {(f.attribute, f.value) for f in facts} == whole
    assert [(e.action, e.status, e.attrs["reply"]) for e in events] == [("read_property_multiple", "OK", "COMPLEX_ACK")]
    assert session.vars["segmented"] == {} and session.malformed == 0


def test_a_segmented_answer_with_a_segment_missing_or_out_of_order_gives_nothing_but_its_event():
    request, answer = simulate.bacnet_device_properties(invoke=7)
    n = len(_segmented(answer, 16))
    for order in ([0, 2, 1, *range(3, n)], [0, *range(2, n)], list(range(1, n))):
        [event], facts, _ = _decoded(request, _segmented(answer, 16, order))  # the request's
        assert facts == [] and event.status == ("OK" if order[0] == 0 else ""), order


def test_segmented_answers_kept_at_once_are_bounded():
    session = Session("udp")
    for invoke in range(50):
        request, answer = simulate.bacnet_device_properties(invoke=invoke)
        bacnet.decode(request, True, session)
        bacnet.decode(_segmented(answer, 16)[0], False, session)
    assert len(session.vars["segmented"]) == bacnet.MAX_REASSEMBLIES
    huge = simulate.bacnet_apdu(bytes([0x30, 99, 14]) + bytes(bacnet.MAX_SEGMENTED))
    [first, *rest] = _segmented(huge, 1400)
    bacnet.decode(first, False, session)
    assert (99, False) in session.vars["segmented"]
    for segment in rest:
        assert bacnet.decode(segment, False, session) == []
    assert (99, False) not in session.vars["segmented"]


def test_a_real_segmented_answer_adds_no_event_per_segment(analyse):
    run = analyse("icsnpp/bacnet/traces/bacnet_segmented_data.pcap")
    answers = [e for e in run.events if e["action"] == "read_property"]
    assert [(e["attrs"]["invoke_id"], e["attrs"]["pdu_type"], e["status"]) for e in answers] == [
        ("93", "CONFIRMED_REQUEST", "OK"), ("94", "CONFIRMED_REQUEST", "OK")]
