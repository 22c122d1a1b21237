"""CC-Link IE Field Basic on nttcom's trace: the master's cyclic request and the slave's response as
nttcom names them, one frame per flow and interval reaching the decoder (the flows are paused)."""

from __future__ import annotations

from sensor.decode import cclink_basic

TRACE = "nttcom/CCLinkFieldBasic/Traces/cclink_ief_basic_only.pcap"  # 444 frames over two minutes


def test_one_frame_per_flow_and_interval(analyse, decoded_pdus):
    run = analyse(TRACE)
    assert len(decoded_pdus) == len(run.events) == 4  # 2 flows × 2 intervals
    request = next(e for e in run.events if e["action"] == "cyclicDataReq")
    assert {k: request["attrs"][k] for k in ("cmd", "master", "slaves", "slave_ids", "group")} == {
        "cmd": "cyclic", "master": "172.16.134.128", "slaves": "1", "slave_ids": "172.16.134.129", "group": "1"}
    response = next(e for e in run.events if e["action"] == "cyclicDataRes")
    assert (response["status"], response["attrs"]["slave"]) == ("normal", "172.16.134.129")
    assert {f["service"] for f in run.flows} == {"cclink_ie_field_basic"} and not run.errors
    assert ("172.16.134.128", "role", "plc") in {(o["ip"], o["attribute"], o["value"]) for o in run.observations}


def test_detection(payloads):
    frames = [payload for _, payload in payloads(TRACE, 61450)]
    assert frames and all(cclink_basic.detect(f) for f in frames)
    assert not cclink_basic.detect(frames[0][:-1])  # the data length no longer matches
    assert not cclink_basic.detect(bytes.fromhex("500000ffff0300060010000104000064"))  # a 3E Device Read
