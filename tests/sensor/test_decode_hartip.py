"""HART-IP decoder on real captures: sessions, HART commands, device identity, keep-alives."""

from __future__ import annotations

from sensor.decode import hartip


def test_commands_and_device_identity(analyse):
    run = analyse("icsnpp/hart-ip/traces/hart-ip.pcap")
    actions = run.actions("hart_ip")
    assert {"Session Initiate", "Read Unique Identifier", "Read Long Tag", "Session Close"} <= set(actions)
    facts = run.facts("192.168.0.10")
    assert (facts["hart_device_type"], facts["hart_device_id"], facts["hart_tag"]) == ("0x264e", "0000d2", "wihartgw")


def test_keep_alives_are_not_events_but_publishes_are(analyse):
    run = analyse("icsnpp/hart-ip/traces/hart-ip_publish_and_keepAlive.pcapng")
    assert "Keep Alive" not in {e["attrs"]["message_id"] for e in run.events}
    assert run.actions("hart_ip").count("Read Device Variable") >= 18


def test_detection():
    assert hartip.detect(bytes.fromhex("010000000001000d01000927c0"))
    assert not hartip.detect(bytes.fromhex("010000000001000e01000927c0"))  # byte count disagrees
    assert not hartip.detect(bytes.fromhex("090000000001000d01000927c0"))  # version 9
