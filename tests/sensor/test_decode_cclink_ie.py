"""CC-Link IE Field/Control on nttcom's traces: the frame types and fields nttcom's Zeek parser logs
(its README shows the aggregated log of this trace), once per interval; TSN frames named."""

from __future__ import annotations

# rows of the cclink-ie.log in nttcom's README for test1.pcap (= cc_link_ief.pcap): pdu type → fields
NTTCOM = {
    "offset": {"node_id": "0", "src_node_number": "0x0000"},
    "timer": {"src_node_number": "0x0000"},
    "transient1": {"node_id": "0", "connection_info": "0x13", "src_node_number": "0x0000"},
    "tokenM": {"node_id": "0", "src_node_number": "0x0001"},
    "ipTransient": {"node_id": "0", "connection_info": "0x13", "src_node_number": "0x0000"},
    "cyclicDataRWr": {"node_id": "0", "src_node_number": "0x0000"},
    "transientAck": {"node_id": "0", "connection_info": "0x13", "src_node_number": "0x0000"},
    "paramCheck": {"node_id": "0", "connection_info": "0x13", "src_node_number": "0x0000"},
    "setup": {"node_id": "1", "src_node_number": "0x0001"},
}


def test_field_frames_as_nttcom_logs_them(analyse):
    run = analyse("nttcom/CCLinkField-CCLinkControl/Traces/cc_link_ief.pcap")
    events = {e["action"]: e for e in run.events}
    assert len(events) == len(run.events) == 22  # 500 frames, 22 distinct frames kept once
    assert {e["protocol"] for e in run.events} == {"cclink_ie_field"}
    for action, fields in NTTCOM.items():
        assert {k: events[action]["attrs"][k] for k in fields} == fields, action
    assert events["transient1"]["attrs"]["cmd"] == "unknownCt-0x00"  # nttcom: unknownCt\x00
    assert events["persuasion"]["attrs"]["node_type"] == "master node"
    assert ("00:11:11:11:11:11", "role", "plc") in {(o["mac"], o["attribute"], o["value"]) for o in run.observations}
    assert [f["service"] for f in run.flows] == ["cclink_ie_field"] and not run.errors


def test_control_and_tsn_frames(analyse):
    run = analyse("nttcom/CCLinkIENoIP/Traces/test2.pcap")
    assert {e["protocol"] for e in run.events} == {"cclink_ie_control", "cclink_ie_field", "cclink_ie", "cclink_ie_tsn"}
    control = next(e for e in run.events if e["protocol"] == "cclink_ie_control")
    assert (control["action"], control["attrs"]["node_type"]) == ("testDataAck", "management node")
    assert not run.errors
