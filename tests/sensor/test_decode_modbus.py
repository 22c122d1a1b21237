"""Modbus/TCP decoder on real captures: transactions, exceptions, device identification, detection."""

from __future__ import annotations

from sensor.decode import modbus
from sensor.decode.spec import Session


def test_transactions_of_the_icsnpp_example(analyse):
    run = analyse("icsnpp/modbus/traces/modbus_example.pcap")
    events = {e["attrs"]["tid"] + "/" + e["orig_h"]: e for e in run.events}
    coils = events["2/127.0.0.1"]
    assert (coils["action"], coils["status"]) == ("READ_COILS", "OK")
    assert {k: coils["attrs"][k] for k in ("unit", "address", "quantity")} == {"unit": "5", "address": "1", "quantity": "8"}
    rw = events["21/127.0.0.1"]
    assert (rw["attrs"]["write_address"], rw["attrs"]["write_quantity"]) == ("2", "3")
    failed = events["1/192.168.1.6"]
    assert (failed["action"], failed["status"], failed["attrs"]["address"]) == (
        "READ_HOLDING_REGISTERS", "ILLEGAL_DATA_ADDRESS", "600")
    assert float(failed["attrs"]["rtt"]) > 0.1


def test_read_device_identification_names_the_device(analyse):
    facts = analyse("icsnpp/modbus/traces/modbus_example.pcap").facts("127.0.0.1")
    assert (facts["vendor"], facts["product_code"], facts["firmware"]) == (
        "Zeek Modbus Test", "Protocol Parsing is fun!", "1.2.3.6")


def test_function_names_follow_zeek():
    assert modbus.function_name(0x03) == "READ_HOLDING_REGISTERS"
    assert modbus.function_name(0x83) == "READ_HOLDING_REGISTERS_EXCEPTION"
    assert modbus.function_name(0x99) == "unknown-153" and modbus.function_name(0x5A) == "PROGRAM_UNITY"


def test_umas_stop_plc_is_named():
    session = Session()
    [event] = modbus.decode(bytes.fromhex("000100000004005a0041"), True, session)
    assert (event.action, event.attrs["umas_function"]) == ("PROGRAM_UNITY", "STOP_PLC")


def test_detection_rejects_what_scanners_send_to_port_502(payloads):
    sent = [p for to_502, p in payloads("zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap", 502)]
    modbus_flows = [p for p in sent if modbus.detect(p)]
    assert len(sent) > 20 and len(modbus_flows) == 12  # the six exchanges of 10.0.0.9 only
    assert modbus.detect(bytes.fromhex("0001000000060103006b0003") * 2)  # two PDUs in a segment
    assert not modbus.detect(bytes.fromhex("0001000000060103006b00"))  # a PDU cut short
