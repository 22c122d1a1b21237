"""MMS (IEC 61850) through the ISO transport on real captures: association, services with the
objects they name, errors; an identify answer's vendor, model and revision (built, as the corpus
has none); a capture that starts mid-association."""

from __future__ import annotations

from sensor.decode import mms
from sensor.decode.spec import Fact, Session


def test_an_association_with_an_ied(analyse):
    run = analyse("ndpi/iso9506-1-mms.pcap")
    assert [(e["action"], e["status"], e["attrs"].get("object", "")) for e in run.events] == [
        ("initiate", "OK", ""), ("getVariableAccessAttributes", "error", "AA1E1Q01FP2LD0/LLN0$BR$rcb_B02"),
        ("read", "OK", "AA1E1Q01FP2LD0/LLN0$BR$rcb_B02"), ("conclude", "OK", "")]  # as tshark shows them
    assert {e["protocol"] for e in run.events} == {"mms"} and run.events[0]["attrs"]["version"] == "1"
    assert [f["service"] for f in run.flows if f["resp_p"] == 102] == ["cotp,mms"] and not run.errors
    served = {(o["ip"], o["value"]) for o in run.observations if o["attribute"] == "protocol_served"}
    assert ("172.16.202.5", "mms") in served


def test_a_write_and_a_malformed_accept(analyse):
    run = analyse("iti/IEC61850/iec61850_write.pcap")
    assert ("write", "OK") in {(e["action"], e["status"]) for e in run.events}
    assert run.errors == {"s7comm": 1}  # the ACCEPT SPDU Wireshark also finds malformed


def test_reports_mid_association_are_mms_but_not_events(analyse):
    run = analyse("iti/IEC61850/Sample_File_MMS_and_GOOSE.pcap")
    assert sum(f["service"] == "cotp,mms" for f in run.flows if f["resp_p"] == 102) > 1
    assert len([e for e in run.events if e["protocol"] == "mms"]) == 4


def ber(tag: int, value: bytes) -> bytes:
    return bytes([tag, len(value)]) + value


def test_identify_names_vendor_model_and_revision():
    session = Session()
    request = ber(0xA0, ber(0x02, b"\x07") + ber(0x82, b""))
    identity = ber(0xA2, ber(0x80, b"ABB") + ber(0x81, b"REF615") + ber(0x82, b"5.0"))
    response = ber(0xA1, ber(0x02, b"\x07") + identity)

    def data(pdu: bytes) -> bytes:  # GIVE TOKENS, DATA TRANSFER, presentation PDV list
        return bytes.fromhex("01000100") + ber(0x61, ber(0x30, ber(0x02, b"\x03") + ber(0xA0, pdu)))

    assert mms.is_data(data(request))
    [event] = mms.decode(data(request), True, session)
    facts = mms.decode(data(response), False, session)
    assert (event.action, event.status) == ("identify", "OK")
    assert {(f.attribute, f.value) for f in facts if isinstance(f, Fact)} == {
        ("vendor", "ABB"), ("model", "REF615"), ("firmware", "5.0")}
