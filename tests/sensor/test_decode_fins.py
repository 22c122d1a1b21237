"""Omron FINS decoder on real captures: UDP and FINS/TCP, run/stop, controller identity."""

from __future__ import annotations

from sensor.decode import fins


def test_run_and_stop_over_fins_tcp(analyse):
    run = analyse("icsnpp/omron-fins/traces/omron_fins_tcp_commands_responses.pcap")
    actions = {e["action"]: e for e in run.events}
    assert actions["Run"]["status"] == "OK" and actions["Stop"]["attrs"]["command_code"] == "0x0402"
    assert {f["service"] for f in run.flows} == {"omron_fins"}


def test_controller_data_read_names_the_plc(analyse):
    run = analyse("icsnpp/omron-fins/traces/omron_test.pcap")
    assert run.facts("10.1.1.164")["model"] == "CP1L-EL20DR-D" and run.facts("10.1.1.164")["firmware"] == "01.00"
    assert "Node Address Data Send (client)" in run.actions("omron_fins")


def test_memory_area_and_end_codes_over_udp(analyse):
    run = analyse("icsnpp/omron-fins/traces/omron.pcap")
    reads = [e for e in run.events if e["action"] == "Memory Area Read"]
    assert {e["attrs"].get("memory_area") for e in reads} >= {"CIO bit (CV)", "CIO (CV)"}
    assert {e["status"] for e in reads} >= {"OK", "0x0301"}


def test_detection():
    assert fins.detect(bytes.fromhex("8000020000000000007a010100cccccc0001"))
    assert fins.detect(bytes.fromhex("46494e530000000c000000000000000000000000"))
    assert not fins.detect(bytes.fromhex("8000020000000000007a7f7f00"))  # unknown command
    assert not fins.detect(bytes.fromhex("46494e530000000c00000009000000000000"))  # length disagrees
