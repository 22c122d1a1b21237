"""Beckhoff ADS/AMS on real TwinCAT captures: commands with both ends' AMS net ids, the device's
name, version and run state, error codes; detection."""

from __future__ import annotations

from collections import Counter

from sensor.decode import ads
from sensor.decode.spec import Session


def test_twincat_engineering_session(analyse):
    run = analyse("ndpi/beckhoff_ads.pcapng")
    assert Counter(e["action"] for e in run.events) == {
        "Read": 5, "Read Write": 7, "Read State": 3, "Read Device Info": 4, "Add Device Notification": 2,
        "Delete Device Notification": 1}  # tshark: the same requests, each answered
    state = next(e for e in run.events if e["action"] == "Read State")
    assert {k: state["attrs"][k] for k in ("target_net_id", "target_port", "source_net_id", "ads_state")} == {
        "target_net_id": "5.13.117.96.1.1", "target_port": "10000", "source_net_id": "192.168.1.99.1.1",
        "ads_state": "Run"}
    assert sorted(e["status"] for e in run.events if e["action"] == "Read Device Info") == [
        "OK", "OK", "target port not found", "target port not found"]
    facts = {(o["ip"], o["attribute"], o["value"]) for o in run.observations if o["source"] == "ads"}
    assert {("192.168.1.8", "ams_net_id", "5.13.117.96.1.1"), ("192.168.1.99", "ams_net_id", "192.168.1.99.1.1"),
            ("192.168.1.8", "product", "PLC Server"), ("192.168.1.8", "firmware", "2.11.2103")} <= facts
    assert [f["service"] for f in run.flows if f["resp_p"] == 48898] == ["ads"] and not run.errors


def test_write_control_names_the_state_asked_for():
    header = ads.AMS.pack(bytes([5, 13, 117, 96, 1, 1]), 851, bytes([10, 0, 0, 1, 1, 1]), 32905, 5, 4, 8, 0, 7)
    request = ads.AMS_TCP.pack(0, ads.AMS.size + 8) + header + bytes.fromhex("0600000000000000")  # Stop
    assert ads.detect(request) and ads.frame(request) == len(request)
    session = Session()
    [event, *facts] = ads.decode(request, True, session)
    assert (event.action, event.attrs["ads_state"], event.attrs["target_port"]) == ("Write Control", "Stop", 851)
    assert {f.value for f in facts} == {"5.13.117.96.1.1", "10.0.0.1.1.1"}
    assert not ads.detect(request[:-1]) and not ads.detect(b"\x00\x01" + request[2:])
