"""BACnet/IP decoder on real captures: services, errors, discovery, device facts."""

from __future__ import annotations

from collections import Counter

from sensor.decode import bacnet


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
