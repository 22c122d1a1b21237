"""SNMP decoder: requests paired with responses, v3 security levels, system-group facts; community
strings never kept."""

from __future__ import annotations

import pytest

from sensor.decode import snmp
from sensor.decode.spec import Session


def test_the_zeek_v1_trace(analyse):
    run = analyse("zeek/Traces/snmp/snmpv1_get.pcap")
    events = [e for e in run.events if e["protocol"] == "snmp"]
    # Zeek's snmp v1 test output: get requests 38..67 (65 and 64 unanswered), a set with id 61
    assert len(events) == 30 and events[0]["attrs"]["request_id"] == "38" and events[-1]["attrs"]["request_id"] == "67"
    assert {e["action"] for e in events} == {"get_request", "set_request"}
    assert [e["attrs"]["request_id"] for e in events if not e["status"]] == ["64", "65"]
    assert all(e["attrs"]["default_community"] == e["attrs"]["cleartext_credentials"] == "true" for e in events)
    assert "public" not in str(run.events) + str(run.observations)
    facts = run.facts("172.31.19.73")
    assert (facts["hostname"], facts["location"], facts["vendor"]) == ("B6300", "Chandra's cube", "Oki")
    assert facts["sysobjectid"] == "1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1"


def test_ndpis_mix_of_versions_and_traps(analyse):
    run = analyse("ndpi/snmp.pcap")
    by_version = {(e["attrs"]["version"], e["action"]) for e in run.events}
    assert {("1", "get_next_request"), ("2c", "get_request"), ("3", "get_request"), ("3", "encrypted_pdu"),
            ("1", "trap"), ("2c", "trap_v2"), ("3", "trap_v2")} <= by_version
    levels = {e["attrs"]["security_level"] for e in run.events if e["attrs"]["version"] == "3"}
    assert levels == {"noAuthNoPriv", "authNoPriv", "authPriv"}
    assert all("cleartext_credentials" not in e["attrs"] for e in run.events if e["attrs"]["version"] == "3")
    assert run.facts("97.0.115.163")["hostname"] == "R1.lab.local"


@pytest.mark.parametrize("payload", [b"\x30\x03\x02\x01\x00", b"\x30\x82\xff\xff\x02\x01\x00", b"GET /", b""])
def test_detection_rejects_truncated_and_foreign_data(payload):
    assert not snmp.detect(payload)


def test_oids_and_a_private_community():
    assert snmp.oid_text(bytes.fromhex("2b06010201010500")) == "1.3.6.1.2.1.1.5.0"
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPget, SNMPvarbind

    get = bytes(SNMP(community="secret", PDU=SNMPget(varbindlist=[SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.5.0"))])))
    [event] = snmp.decode(get, True, Session("udp"))
    assert event.attrs["cleartext_credentials"] == "true" and "default_community" not in event.attrs
    assert "secret" not in str(event.attrs)
