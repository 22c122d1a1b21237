"""PROFINET DCP on real captures: Identify requests and the answering device's name, type, ids,
role and address as facts, a Set that changes the address, cyclic RT frames named but not decoded."""

from __future__ import annotations

DEVICE = "08:00:06:93:cf:32"


def test_an_ip_address_is_set_through_dcp(analyse):
    run = analyse("iti/profinet/ChangeIPUsingDCP.pcap")
    events = [(e["action"], e["status"]) for e in run.events]
    assert events == [("identify", ""), ("identify", "OK"), ("set", "OK")]
    answer, change = run.events[1]["attrs"], run.events[2]["attrs"]
    assert (answer["name_of_station"], answer["ip"], answer["src_mac"]) == ("X208-BORD", "192.168.0.6", DEVICE)
    assert (change["ip"], change["dst_mac"], "rtt" in change) == ("192.168.0.10", DEVICE, True)
    facts = {(o["attribute"], o["value"]) for o in run.observations if o["mac"] == DEVICE and o["source"] == "profinet"}
    assert facts == {("hostname", "X208-BORD"), ("model", "INC"), ("profinet_vendor_id", "0x002a"),
                     ("profinet_device_id", "0x0a01"), ("ip", "192.168.0.6"),
                     ("vendor", "Siemens"), ("product", "SCALANCE X-200"),  # the ids' names
                     ("role", "io_device")}  # as it states (a PROFINET switch is an IO device for its diagnostics)
    addresses = {o["ip"] for o in run.observations if o["attribute"] == "ip" and o["source"] == "profinet"}
    assert addresses == {"192.168.0.6"}  # the address column too, so the ledger ties it to the MAC


def test_a_controller_and_a_format_string_station_name(analyse):
    run = analyse("iti/profinet/profinet-wireshark-bug.pcap")
    [setting] = [e for e in run.events if e["action"] == "set"]
    assert (setting["attrs"]["name_of_station"], setting["attrs"]["control"], setting["status"]) == (
        "%n%n%n", "end_transaction", "OK")
    assert ("role", "plc") in {(o["attribute"], o["value"]) for o in run.observations}


def test_identify_filters_and_rt_flows(analyse):
    run = analyse("iti/profinet/PROFINET-RT.pcap")
    assert {e["attrs"]["name_of_station"] for e in run.events} >= {"switch1", "pn-io", "swln3"}
    rt = analyse("icsnpp/profinet-io-cm/traces/profinet_io_cm.pcap")
    assert {f["service"] for f in rt.flows if f["proto"] == "l2"} == {"profinet_rt"} and not rt.errors
