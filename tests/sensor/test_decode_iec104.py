"""IEC 60870-5-104 decoder on real captures: commands and their confirmations, U-frames, ASDU types."""

from __future__ import annotations

from collections import Counter

from sensor.decode import iec104


def test_commands_are_answered_by_their_confirmation(analyse):
    run = analyse("iti/IEC60870-5-104/090813_diverse.pcap")
    commands = [e for e in run.events if e["action"].startswith("C_")]
    assert commands and all(e["status"] == "OK" and e["attrs"]["cot"] == "act" for e in commands)
    assert {e["attrs"]["reply"] for e in commands} <= {"actcon", "actterm"}
    assert Counter(e["action"] for e in run.events)["M_ME_NC_1"] == 14
    terminated = next(e for e in commands if "term_rtt" in e["attrs"] and e["action"] == "C_SC_TA_1")
    assert (terminated["attrs"]["reply"], terminated["attrs"]["rtt"], terminated["attrs"]["term_rtt"]) == (
        "actcon", "0.051040", "0.051657")  # confirmed, then terminated


def test_startdt_and_interrogation(analyse):
    run = analyse("iti/IEC60870-5-104/JavaRMI_and_IEC_Misc.pcap")
    actions = Counter(run.actions("iec104"))
    interrogations = [e for e in run.events if e["action"] == "C_IC_NA_1" and e["attrs"]["cot"] == "act"]
    assert actions["STARTDT act"] == actions["STARTDT con"] == 2 and len(interrogations) == 21
    assert {f["service"] for f in run.flows if f["resp_p"] == 2404} == {"iec104"}


def test_negative_confirmation(analyse):
    run = analyse("ndpi/iec60780-5-104.pcap")
    assert sorted(e["status"] for e in run.events if e["action"] == "C_SC_NA_1") == ["OK", "OK", "negative", "negative"]


def test_detection():
    assert iec104.detect(bytes.fromhex("680407000000"))  # STARTDT act
    assert iec104.detect(bytes.fromhex("680e0000000064010600010000000014"))  # C_IC_NA_1 act
    assert not iec104.detect(bytes.fromhex("680407000001"))  # U-format with junk
    assert not iec104.detect(bytes.fromhex("680e00000000ff010600010000000014"))  # unknown type
