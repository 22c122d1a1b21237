"""S7comm / S7comm-plus decoder on real captures: jobs, user data, PLC control, identity."""

from __future__ import annotations

from sensor.decode import s7comm


def test_snap7_session(analyse):
    run = analyse("icsnpp/s7comm/traces/snap7.pcap")
    by_action = {}
    for e in run.events:
        by_action.setdefault(e["action"], []).append(e)
    assert by_action["PLC Stop"][0]["attrs"]["pi_service"] == "P_PROGRAM"
    assert [e["attrs"]["pi_service"] for e in by_action["PLC Control"]] == ["_MODU", "_GARB", "P_PROGRAM"]
    upload = by_action["Start Upload"][0]["attrs"]
    assert (upload["filename"], upload["block_type"], upload["block_number"]) == ("_0B00000A", "SDB", "0")
    assert by_action["Get Block Info"][0]["status"] == "Parameter Error"
    assert {e["attrs"].get("szl_id") for e in by_action["Read SZL"]} >= {"0x0011", "0x001c"}
    assert by_action["Write Variable"][-1]["attrs"]["areas"] == "M,I,Q,T,C"
    assert {f["service"] for f in run.flows} == {"cotp,s7comm"}


def test_module_identification_from_szl(analyse):
    facts = analyse("icsnpp/s7comm/traces/s7ident.pcap").facts("172.17.0.2")
    assert facts["model"] == "6ES7 315-2EH14-0AB0" and facts["firmware"] == "V3.2.6"
    assert (facts["station_name"], facts["product"], facts["serial"]) == (
        "SNAP7-SERVER", "CPU 315-2 PN/DP", "S C-C2UR28922012")


def test_s7comm_plus_identity_and_functions(analyse):
    run = analyse("ndpi/s7comm-plus.pcap")
    facts = run.facts("192.168.25.131")
    assert (facts["model"], facts["firmware"]) == ("6ES7 211-1BE31-0XB0", "V3.0")
    assert "Create Object" in run.actions("s7comm-plus")


def test_simulated_plant_incidents_are_reported(tmp_path, analyse_path):
    from sensor.simulate import write_pcap

    path = tmp_path / "plant.pcap"
    write_pcap(path, packets=20_000, seed=3)
    run = analyse_path(path)
    assert "PLC Stop" in run.actions("s7comm") and "WRITE_SINGLE_REGISTER" in run.actions("modbus")
    assert run.facts("10.10.0.13")["product"] == "1756-L83E/B LOGIX5583E"  # List Identity
    assert not run.errors


def test_rdp_connection_requests_are_not_s7(payloads):
    rdp = [p for _, p in payloads("zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap", 502) if p[:2] == b"\x03\x00"]
    assert rdp and not any(s7comm.detect(p) for p in rdp)
    assert s7comm.detect(bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"))  # S7 CR with TSAPs
