"""CC-Link IE Field Basic on nttcom's trace: the master's cyclic request and the slave's response as
nttcom names them, one frame per flow and interval reaching the decoder (the flows are paused)."""

from __future__ import annotations

import struct

from sensor.decode import cclink_basic
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import PCAP_HEADER, PCAP_RECORD, Host, udp_frame

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


def test_a_capture_that_ends_while_a_flow_is_paused(tmp_path):
    """The end of input empties the flow table before the app layer's last flush, which resumes its
    paused flows only where the table still holds them: a capture ending mid-pause is analysed."""
    master, slave = (Host(f"h{i}", "plc", f"10.9.0.{i}", f"02:00:00:00:00:0{i}", False, 64) for i in (1, 2))
    info = struct.pack("<4sBBHHHHH", master.ip[::-1], 1, 0, 0, 0, 0, 1, 1) + bytes(4) + slave.ip[::-1]
    body = struct.pack("<HHH", cclink_basic.CYCLIC, 0, 1).ljust(cclink_basic.REQUEST_INFO - 11, b"\0") + info
    request = cclink_basic.REQUEST + bytes([0, 0xFF]) + struct.pack("<HBHH", 0x03FF, 0, len(body) + 2, 0) + body
    assert cclink_basic.detect(request)
    ips = (master.ip_text, slave.ip_text)
    path = tmp_path / "cyclic.pcap"
    with open(path, "wb") as out:
        out.write(PCAP_HEADER)
        for i in range(5):  # the first decoded, then the flow paused to the interval's end
            frame = udp_frame(master, slave.mac, slave.ip, 61451, 61450, request)
            out.write(PCAP_RECORD.pack(1_767_571_200, i * 10_000, len(frame), len(frame)) + frame)
    [interval] = iter_intervals([path], 60.0)
    [event] = interval.events
    assert (event["action"], event["attrs"]["master"], event["attrs"]["slave_ids"]) == ("cyclicDataReq", *ips)
    assert interval.flows["service"].to_pylist() == ["cclink_ie_field_basic"]
    assert interval.flows["orig_pkts"].to_pylist() == [5] and interval.flows["final"].to_pylist() == [True]
