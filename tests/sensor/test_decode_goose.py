"""IEC 61850 GOOSE on real captures: control blocks published, a restarted publisher's sequence,
state changes sampled to at most one per control block and second."""

from __future__ import annotations

from collections import Counter


def test_a_control_block_and_its_restart(analyse):
    run = analyse("iti/IEC61850/GOOSE.pcap", float("inf"))
    publish = next(e for e in run.events if e["action"] == "publish")
    assert {k: publish["attrs"][k] for k in ("appid", "gocb_ref", "dat_set", "go_id", "conf_rev", "entries")} == {
        "appid": "0x0001", "gocb_ref": "GEDeviceF650/LLN0$GO$gcb01", "dat_set": "GEDeviceF650/LLN0$GOOSE1",
        "go_id": "F650_GOOSE1", "conf_rev": "1", "entries": "8"}
    assert publish["attrs"]["src_mac"] == "00:a0:f4:08:2f:77" and publish["orig_h"] == ""
    [reset] = [e for e in run.events if e["action"] == "sequence_reset"]  # sqNum 12 → 1, same stNum
    assert (reset["attrs"]["st_num"], reset["attrs"]["sq_num"], reset["attrs"]["prev_sq_num"]) == ("1", "1", "12")
    assert [f["service"] for f in run.flows] == ["goose"] and not run.errors
    assert {(o["mac"], o["attribute"], o["value"]) for o in run.observations if o["source"] == "goose"} == {
        ("00:a0:f4:08:2f:77", "goose_control_block", "GEDeviceF650/LLN0$GO$gcb01")}


def test_state_changes_are_sampled(analyse):
    run = analyse("iti/IEC61850/Sample_File_GOOSE.pcap")
    changes = [e for e in run.events if e["action"] == "state_change"]
    per_second = Counter((e["attrs"]["gocb_ref"], int(e["ts"].timestamp())) for e in changes)
    assert len(changes) > 10 and max(per_second.values()) == 1
    assert all(int(e["attrs"]["st_num"]) > int(e["attrs"]["prev_st_num"]) for e in changes)
    assert len({e["attrs"]["gocb_ref"] for e in run.events if e["action"] == "publish"}) == 3
