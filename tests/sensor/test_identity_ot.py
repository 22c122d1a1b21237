"""Device identity from OT protocols, on real bytes: corpus captures and the simulated plant, each
checked against tshark's reading of the same packets; hand-built PDUs for the edge cases and for
malformed input (the answer's event stands, the unreadable rest is counted)."""

from __future__ import annotations

import functools
import operator
import re
import shutil
import struct
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sensor.decode import bacnet, cip, modbus, opcua, s7comm, slmp
from sensor.decode.spec import Event, Fact, Session
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import (PCAP_HEADER, PCAP_RECORD, Host, s7_read_szl, s7_szl_answer, s7_userdata, udp_frame,
                             write_pcap)

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
ADVISORIES = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"


def tshark(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """Rows of ``fields`` (every occurrence, joined by |) of the packets ``display_filter`` selects."""
    args = ["tshark", "-r", str(path), "-Y", display_filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    out = subprocess.run([*args, *(a for f in fields for a in ("-e", f))], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


def tshark_text(path: Path, display_filter: str) -> str:
    return subprocess.run(["tshark", "-r", str(path), "-Y", display_filter, "-V"], capture_output=True, text=True,
                          check=True).stdout


@dataclass
class Run:
    observations: list[dict]
    errors: Counter


def run_of(path: Path) -> Run:
    """The sensor's observations of a capture and its malformed PDUs per protocol."""
    run = Run([], Counter())
    for iv in iter_intervals([path]):
        run.observations += iv.observations
        run.errors.update(iv.decode_errors)
    return run


def facts(run: Run, ip: str, source: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for o in run.observations:
        if o["ip"] == ip and o["source"] == source and o["attribute"] != "protocol_served":
            out.setdefault(o["attribute"], set()).add(o["value"])
    return out


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> tuple[Path, dict, Run]:
    """A small simulated plant (its first ~13 s: every controller has stated its identity)."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    summary = write_pcap(path, 4_000, seed=3)
    return path, {d["name"]: d for d in summary["devices"]}, run_of(path)


# -- S7comm -------------------------------------------------------------------------------------

def _szl_identity(path: Path) -> dict[str, tuple[str, ...]]:
    """IP → (order number, firmware, station, module name, serial, module type) as tshark reads the
    SZL 0x0011 and 0x001C answers (Wireshark calls the order number field "anz")."""
    out: dict[str, list[str]] = {}
    for ip, indexes, mlfbs, ausbgs, ausbes in tshark(path, "s7comm.szl.xy11.0001.index", "ip.src",
                                                      "s7comm.szl.xy11.0001.index", "s7comm.szl.xy11.0001.anz",
                                                      "s7comm.szl.xy11.0001.ausbg", "s7comm.szl.xy11.0001.ausbe"):
        records = dict(zip(indexes.split("|"), zip(mlfbs.split("|"), ausbgs.split("|"), ausbes.split("|"))))
        ausbg, ausbe = int(records["0x0007"][1]), int(records["0x0007"][2])
        out.setdefault(ip, [""] * 6)[:2] = [records["0x0001"][0].strip(), f"V{ausbg & 0xFF}.{ausbe >> 8}.{ausbe & 0xFF}"]
    for ip, *names in tshark(path, "s7comm.szl.001c.0001.name", "ip.src", "s7comm.szl.001c.0001.name",
                             "s7comm.szl.001c.0002.name", "s7comm.szl.001c.0005.serialn",
                             "s7comm.szl.001c.0007.cputypname"):
        out.setdefault(ip, [""] * 6)[2:] = names
    return {ip: tuple(v) for ip, v in out.items()}


def _ours_s7(run: Run, ip: str) -> tuple[str, ...]:
    got = facts(run, ip, "s7comm")
    return tuple(",".join(sorted(got.get(a, ()))) for a in ("model", "firmware", "station_name", "device_name",
                                                              "serial", "product"))


@needs_tshark
@pytest.mark.parametrize("trace", ["icsnpp/s7comm/traces/snap7.pcap", "icsnpp/s7comm/traces/s7ident.pcap"])
def test_s7_szl_identity_as_tshark_reads_it(corpus, trace):
    """snap7's component identification spans three data units: it is read whole."""
    run = run_of(corpus / trace)
    expected = _szl_identity(corpus / trace)
    assert expected and all(_ours_s7(run, ip) == identity for ip, identity in expected.items())
    assert all(facts(run, ip, "s7comm")["vendor"] == {"Siemens"} for ip in expected)
    assert not run.errors


@needs_tshark
def test_simulated_s7_plcs_state_what_tshark_reads(plant):
    path, devices, run = plant
    expected = _szl_identity(path)
    assert set(expected) == {devices["plc-s7-1"]["ip"], devices["plc-s7-2"]["ip"]}
    assert all(_ours_s7(run, ip) == identity for ip, identity in expected.items())
    assert expected[devices["plc-s7-1"]["ip"]][:2] == ("6ES7 214-1AG40-0XB0", "V4.4.0")


def test_s7_szl_answer_cut_short_is_not_glued_to_the_next():
    """A multi-unit answer whose rest never comes: the next request's answer is read alone."""
    session, more = Session(), bytes.fromhex("000112081284" "0101" "0001" "0000")  # "last data unit": no
    s7comm.decode(s7_read_szl(1, 0x0011), True, session)
    s7comm.decode(s7_userdata(1, more, b"\xff\x09\x00\x0a" + bytes.fromhex("00110000001c000a") + b"6E"), False, session)
    s7comm.decode(s7_read_szl(2, 0x001C), True, session)
    answer = s7_szl_answer(2, 0x001C, 34, [struct.pack(">H", 2) + b"PLC_7"])
    assert [(f.attribute, f.value) for f in s7comm.decode(answer, False, session) if isinstance(f, Fact)] == [
        ("device_name", "PLC_7")]


def test_s7plus_session_names_the_plc_and_its_vendor(corpus):
    assert facts(run_of(corpus / "ndpi/s7comm-plus.pcap"), "192.168.25.131", "s7comm") == {
        "model": {"6ES7 211-1BE31-0XB0"}, "firmware": {"V3.0"}, "vendor": {"Siemens"}}


# -- Modbus and UMAS ----------------------------------------------------------------------------

@needs_tshark
def test_modbus_device_identification_as_tshark_reads_it(corpus):
    trace = corpus / "icsnpp/modbus/traces/modbus_example.pcap"
    run = run_of(trace)
    rows = tshark(trace, "modbus.object_str_value", "ip.src", "modbus.object_id", "modbus.object_str_value")
    names = {"0": "vendor", "1": "product_code", "2": "firmware", "3": "vendor_url", "4": "product", "5": "model",
             "6": "application"}
    for ip, ids, values in rows:
        got = facts(run, ip, "modbus")
        for number, value in zip(ids.split("|"), values.split("|")):
            assert value.strip() in got[names[str(int(number, 0))]]
    assert rows and got["model"] >= got["product_code"]  # the product code names the model


def test_every_device_identification_object_and_a_truncated_one():
    objects = [b"ACME", b"PX-100", b"v1.2", b"http://acme.example", b"Pump controller", b"PX-100-EU", b"Line 2"]
    body = b"\x0e\x02\x83\x00\x00" + bytes([len(objects)]) + b"".join(bytes([i, len(v)]) + v for i, v in enumerate(objects))
    session = Session()
    session.ask(1, Event("ENCAP_INTERFACE_TRANSPORT"))
    items = modbus.decode(struct.pack(">HHHBB", 1, 0, 2 + len(body), 1, 0x2B) + body, False, session)
    assert {(f.attribute, f.value) for f in items if isinstance(f, Fact)} == {
        ("vendor", "ACME"), ("product_code", "PX-100"), ("model", "PX-100"), ("firmware", "v1.2"),
        ("vendor_url", "http://acme.example"), ("product", "Pump controller"), ("model", "PX-100-EU"),
        ("application", "Line 2")}
    assert [f.confidence for f in items if isinstance(f, Fact) and f.attribute == "model"] == [
        modbus.CONF_PRODUCT_CODE_MODEL, 90]  # a model name outranks a product code
    session.ask(2, Event("ENCAP_INTERFACE_TRANSPORT"))
    cut = modbus.decode(struct.pack(">HHHBB", 2, 0, 2 + len(body) - 3, 1, 0x2B) + body[:-3], False, session)
    assert cut == [] and session.malformed == 1 and not session.pending  # the answer stands, its rest counted


@needs_tshark
def test_umas_read_id_names_the_cpu(corpus):
    trace = corpus / "ndpi/umas.pcap"
    run = run_of(trace)
    got = facts(run, "192.168.63.253", "modbus")
    assert got == {"model": {"140 CPU 311 10"}, "firmware": {"V2.70"}, "vendor": {"Schneider Electric"}}
    [(payload,)] = tshark(trace, "tcp.srcport == 502 && frame.number == 6", "tcp.payload")
    answer = bytes.fromhex(payload)[7:]  # after the MBAP header: function 90, session, status, the ID
    assert answer[:3] == b"\x5a\x00\xfe" and answer[3 + 22] == 14 and answer[3 + 23:3 + 37] == b"140 CPU 311 10"
    assert answer[3 + 8:3 + 10] == b"\x70\x02"  # the communication version the firmware fact reads


# -- CIP ----------------------------------------------------------------------------------------

@needs_tshark
def test_cip_identity_replies_as_tshark_reads_them(corpus):
    """An adapter's own Identity (direct requests) names the device; what Unconnected Send routes to
    the chassis' other slots (the controller, two ProSoft modules) becomes cip_module facts."""
    trace = corpus / "ics-pcap/EIP/EIP-IPAddressChangeAttempt/EIP-IPAddressChangeAttempt.pcap"
    run = run_of(trace)
    rows = tshark(trace, "cip.id.product_name", "ip.src", "cip.id.product_name", "cip.id.major_rev", "cip.id.minor_rev",
                  "cip.id.serial_number")
    assert rows
    for ip, name, major, minor, serial in rows:
        got = facts(run, ip, "enip")
        direct = (name in got.get("product", ()) and f"{major}.{minor}" in got["firmware"]
                  and f"0x{int(serial, 16):08x}" in got["serial"])
        routed = any(f"{name} rev {major}.{minor}" in m for m in got.get("cip_module", ()))
        assert direct or routed, (ip, name)
    assert facts(run, "192.168.10.120", "enip")["product"] == {"1756-ENBT/A"}
    assert "port 1 link 0: Rockwell Automation/Allen-Bradley 1756-L61/B LOGIX5561 rev 16.20" in \
        facts(run, "192.168.10.120", "enip")["cip_module"]


def _cip_exchange(request: bytes, reply: bytes) -> tuple[list, Session]:
    session = Session()
    cip.events(request, True, "k", session, {})
    return cip.events(reply, False, "k", session, {}), session


def test_cip_get_attribute_single_and_list():
    single, _ = _cip_exchange(bytes.fromhex("0e03200124013007"), b"\x8e\x00\x00\x00\x0b1769-L33ER/")
    assert [(f.attribute, f.value) for f in single if isinstance(f, Fact)] == [("product", "1769-L33ER/")]
    listed = struct.pack("<H", 3) + struct.pack("<HHH", 1, 0, 1) + struct.pack("<HH", 5, 0x14) \
        + struct.pack("<HHBB", 4, 0, 32, 11)  # vendor, an unsupported attribute, revision
    items, _ = _cip_exchange(bytes.fromhex("0302200124010300010005000400"), b"\x83\x00\x00\x00" + listed)
    assert {(f.attribute, f.value) for f in items if isinstance(f, Fact)} == {
        ("vendor", "Rockwell Automation/Allen-Bradley"), ("firmware", "32.11")}


def test_cip_reply_to_another_object_is_not_taken_for_identity():
    """An Identity request left unanswered, then another Get_Attribute_Single under the same sender
    context: its reply is that object's, not the Identity's."""
    session = Session()
    cip.events(bytes.fromhex("0e03200124013007"), True, "k", session, {})
    cip.events(bytes.fromhex("0e0320f524013005"), True, "k", session, {})  # TCP/IP Interface, domain name
    reply = cip.events(b"\x8e\x00\x00\x00\x0bplant.local", False, "k", session, {})
    assert not [f for f in reply if isinstance(f, Fact)]


def test_cip_short_and_truncated_identity_replies():
    """Get_Attributes_All of a device that stops after the serial number; a Get_Attribute_List reply
    cut inside its count: the first names what it has, the second only counts as malformed."""
    short, _ = _cip_exchange(bytes.fromhex("01022001" "2401"), b"\x81\x00\x00\x00" + struct.pack(
        "<HHHBBHI", 1, 0x0E, 0x36, 20, 16, 0, 0x0051823F))
    assert {(f.attribute, f.value) for f in short if isinstance(f, Fact)} == {
        ("vendor", "Rockwell Automation/Allen-Bradley"), ("device_type", "Programmable Logic Controller"),
        ("firmware", "20.16"), ("serial", "0x0051823f")}
    cut, session = _cip_exchange(bytes.fromhex("0302200124010100" "0700"), b"\x83\x00\x00\x00\x01")
    assert [e.status for e in cut if isinstance(e, Event)] == [] and session.malformed == 1


def test_cip_truncated_unconnected_send_keeps_its_event():
    session = Session()
    out = cip.events(bytes.fromhex("5202200624010a0e") + struct.pack("<H", 40) + b"\x01\x02", True, "k", session, {})
    assert [e.action for e in out] == ["Unconnected Send"] and session.malformed == 1


# -- FINS, SLMP ---------------------------------------------------------------------------------

@needs_tshark
@pytest.mark.parametrize("trace", ["icsnpp/omron-fins/traces/omron_test.pcap", None])
def test_fins_controller_data_as_tshark_reads_it(corpus, plant, trace):
    path, run = (corpus / trace, run_of(corpus / trace)) if trace else (plant[0], plant[2])
    rows = tshark(path, "omron.controller.model", "ip.src", "omron.controller.model", "omron.controller.version")
    assert rows
    for ip, model, version in rows:
        got = facts(run, ip, "omron_fins")
        assert (got["model"], got["firmware"], got["vendor"]) == ({model.strip()}, {version.strip()}, {"OMRON"})


def test_slmp_read_type_name(plant):
    _, devices, run = plant
    assert facts(run, devices["plc-iqr-1"]["ip"], "slmp") == {
        "model": {"R04ENCPU"}, "vendor": {"Mitsubishi Electric"}}
    answer = b"\xd0\x00\x00\xff\xff\x03\x00" + struct.pack("<H", 20) + b"\x00\x00" + b"Q03UDVCPU".ljust(16) + b"\x66\x02"
    session = Session()
    session.ask("next", Event("Read Type Name", attrs={"command": "0x0101"}))
    assert {(f.attribute, f.value) for f in slmp.decode(answer, False, session) if isinstance(f, Fact)} == {
        ("model", "Q03UDVCPU"), ("vendor", "Mitsubishi Electric"), ("slmp_model_code", "0x0266")}


# -- BACnet -------------------------------------------------------------------------------------

BACNET_TEXT = re.compile(r"^\s*(vendor-name|model-name|firmware-revision|application-software-version): .*?'(.+)'$",
                         re.M)
BACNET_VENDOR_ID = re.compile(r"^\s*vendor-identifier: \(Unsigned\) (\d+)$", re.M)


@needs_tshark
@pytest.mark.parametrize("trace", ["iti/BACnet/bacnet_test.pcap", None])
def test_bacnet_device_properties_as_tshark_reads_them(corpus, plant, trace):
    """ReadProperty answers (a JCI controller's) and ReadPropertyMultiple (the simulated one's)."""
    path, run = (corpus / trace, run_of(corpus / trace)) if trace else (plant[0], plant[2])
    names = {"vendor-name": "vendor", "model-name": "model", "firmware-revision": "firmware",
             "application-software-version": "software"}
    [(ip,)] = {tuple(r) for r in tshark(path, "bacapp.type == 3", "ip.src")}
    text = tshark_text(path, "bacapp.type == 3")
    shown = BACNET_TEXT.findall(text)
    got = facts(run, ip, "bacnet")
    assert shown and all(value in got[names[prop]] for prop, value in shown)
    assert set(BACNET_VENDOR_ID.findall(text)) == got["bacnet_vendor_id"]


def test_bacnet_rpm_answer_with_an_error_and_another_object():
    device, other = b"\x0c" + struct.pack(">I", (8 << 22) | 7), b"\x0c" + struct.pack(">I", (0 << 22) | 1)
    text = b"\x75\x06\x00Trane"
    ack = (b"\x30\x09\x0e" + other + b"\x1e\x29\x46\x4e" + text + b"\x4f\x1f"  # an analog input's "model": ignored
           + device + b"\x1e\x29\x79\x4e" + text + b"\x4f"  # vendor-name
           + b"\x29\x2c\x5e\x91\x02\x91\x20\x5f"  # firmware-revision: error (property, unknown-property)
           + b"\x29\x78\x4e\x21\x02\x4f\x1f")  # vendor-identifier 2
    session = Session()
    items = bacnet.decode(b"\x81\x0a" + struct.pack(">H", 6 + len(ack)) + b"\x01\x00" + ack, False, session)
    assert {(f.attribute, f.value) for f in items if isinstance(f, Fact)} == {
        ("vendor", "Trane"), ("bacnet_vendor_id", "2"), ("vendor", "The Trane Company")}
    truncated = bacnet.decode(b"\x81\x0a\x00\x10\x01\x00" + ack[:10], False, session)
    assert [i.status for i in truncated if isinstance(i, Event)] == ["OK"] and session.malformed == 1


# -- PROFINET DCP -------------------------------------------------------------------------------

@needs_tshark
@pytest.mark.parametrize("trace", ["iti/profinet/profinet-wireshark-bug.pcap", None])
def test_profinet_identify_answers_as_tshark_reads_them(corpus, plant, trace):
    path, run = (corpus / trace, run_of(corpus / trace)) if trace else (plant[0], plant[2])
    rows = tshark(path, "pn_dcp.suboption_vendor_id", "eth.src", "pn_dcp.suboption_vendor_id",
                  "pn_dcp.suboption_device_id", "pn_dcp.suboption_device_devicevendorvalue")
    assert rows
    for mac, vendor, device, kind in rows:
        got = {(o["attribute"], o["value"]) for o in run.observations if o["mac"] == mac and o["source"] == "profinet"}
        assert {("profinet_vendor_id", vendor), ("profinet_device_id", device), ("model", kind),
                ("vendor", "Siemens")} <= got
    assert ("product", "SIMATIC S7-300" if trace else "SIMATIC ET 200SP") in got


# -- OPC UA -------------------------------------------------------------------------------------

@needs_tshark
def test_opcua_application_description_as_tshark_reads_it(corpus):
    trace = corpus / "icsnpp/opcua-binary/traces/opcua_with-gap_with-handshake.pcap"
    run = run_of(trace)
    rows = tshark(trace, "opcua.ApplicationUri && tcp.srcport == 4840", "ip.src", "opcua.ApplicationUri",
                  "opcua.ProductUri")
    assert rows
    for ip, uris, products in rows:
        got = facts(run, ip, "opcua")
        assert uris.split("|")[0] in got["opcua_application_uri"] and products.split("|")[0] in got["opcua_product_uri"]
    assert facts(run, "192.168.11.34", "opcua")["product"] == {"Softing OPC UA Gateway"}


def _ua_string(text: str) -> bytes:
    return struct.pack("<i", len(text)) + text.encode()


def _ua_msg(type_id: int, request_id: int, body: bytes) -> bytes:
    data = struct.pack("<IIII", 1, 1, request_id, request_id) + bytes([1, 0]) + struct.pack("<H", type_id) + body
    return b"MSGF" + struct.pack("<I", 8 + len(data)) + data


def test_opcua_build_info_from_a_read_of_the_server_status():
    request_header = bytes([0, 0]) + bytes(16) + struct.pack("<i", -1) + bytes(4) + bytes([0, 0, 0])
    nodes = [2256, 2261]  # ServerStatus, BuildInfo.ProductName
    read = request_header + bytes(12) + struct.pack("<i", len(nodes)) + b"".join(
        bytes([1, 0]) + struct.pack("<H", n) + struct.pack("<I", 13) + struct.pack("<i", -1) + bytes(2)
        + struct.pack("<i", -1) for n in nodes)
    build = b"".join(map(_ua_string, ("urn:siemens:s7-1500", "Siemens AG", "SIMATIC S7-1500", "V2.9.4", "2"))) + bytes(8)
    status = bytes(16) + struct.pack("<I", 0) + build + bytes(4) + bytes([0])
    values = (bytes([1, 22, 1, 0]) + struct.pack("<H", 864) + bytes([1]) + struct.pack("<i", len(status)) + status
              + bytes([1, 12]) + _ua_string("SIMATIC S7-1500"))
    response = bytes(8) + struct.pack("<II", 1, 0) + bytes([0]) + struct.pack("<i", -1) + bytes([0, 0, 0]) \
        + struct.pack("<i", 2) + values + struct.pack("<i", -1)
    session = Session()
    session.vars["mode"] = 1
    opcua.decode(_ua_msg(631, 5, read), True, session)
    items = opcua.decode(_ua_msg(634, 5, response), False, session)
    assert {(f.attribute, f.value) for f in items if isinstance(f, Fact)} == {
        ("opcua_product_uri", "urn:siemens:s7-1500"), ("vendor", "Siemens AG"), ("product", "SIMATIC S7-1500"),
        ("software", "V2.9.4")}
    opcua.decode(_ua_msg(631, 6, read), True, session)
    cut = opcua.decode(_ua_msg(634, 6, response[:60]), False, session)
    assert [e.status for e in cut if isinstance(e, Event)] == [] and session.malformed == 1  # event answered, kept


# -- HART-IP ------------------------------------------------------------------------------------

def _packed(text: str) -> bytes:
    bits = 0
    for ch in text:
        bits = bits << 6 | ord(ch) & 0x3F
    return bits.to_bytes(len(text) * 6 // 8, "big")


@needs_tshark
def test_hart_read_tag_packed_ascii_as_tshark_reads_it(tmp_path):
    """A field device's Read Tag answer (command 13): tag and descriptor in Packed ASCII."""
    data = _packed("PT-101  ") + _packed("FLOW XMTR LINE 2") + bytes([6, 12, 125])
    hart = bytes([0x86, 0xA6, 0x4E, 0x00, 0x12, 0x34, 13, len(data) + 2, 0, 0]) + data
    hart += bytes([functools.reduce(operator.xor, hart)])
    pdu = struct.pack(">BBBBHH", 1, 1, 3, 0, 7, 8 + len(hart)) + hart
    device = Host("transmitter", "plc", "10.0.0.5", "00:00:5e:00:53:05", False, 64)
    client = Host("ews", "engineering_workstation", "10.0.0.9", "00:00:5e:00:53:09", False, 128)
    frame = udp_frame(device, client.mac, client.ip, 5094, 50000, pdu)
    path = tmp_path / "hart.pcap"
    path.write_bytes(PCAP_HEADER + PCAP_RECORD.pack(1, 0, len(frame), len(frame)) + frame)
    [(tag, descriptor)] = tshark(path, "hart_ip", "hart_ip.pt.rsp.tag", "hart_ip.pt.rsp.descriptor")
    got = facts(run_of(path), "10.0.0.5", "hart_ip")
    assert got == {"hart_tag": {tag.strip()}, "hart_descriptor": {descriptor.strip()}} == {
        "hart_tag": {"PT-101"}, "hart_descriptor": {"FLOW XMTR LINE 2"}}


# -- the ledger and vulnerability matching --------------------------------------------------------

@pytest.mark.skipif(not ADVISORIES.is_dir(), reason="advisories not available")
def test_the_simulated_controllers_match_their_advisories(plant):
    from core.analytics.ledger import build_ledger
    from core.vulns import csaf
    from core.vulns.match import Catalogue, DeviceId

    path, devices, _ = plant
    rows = [dict(o, first_seen=o["ts"], last_seen=o["ts"]) for iv in iter_intervals([path]) for o in iv.observations]
    ledger = {a.ip: a.summary() for a in build_ledger(rows, [], {}, {}).values()}
    catalogue = Catalogue(csaf.read(p) for p in sorted(ADVISORIES.glob("*.json")))
    expected = {"plc-s7-1": "ICSA-22-286-04", "plc-s7-2": "ICSA-22-286-04", "plc-m340-1": "ICSA-17-054-03",
                "plc-cp1l-1": "ICSA-22-179-02", "plc-logix-1": "ICSA-24-284-20", "plc-iqr-1": "ICSA-20-161-02"}
    for name, advisory in expected.items():
        row = ledger[devices[name]["ip"]]
        assert row["model"], name
        matches = catalogue.match(DeviceId(name, row["vendor"], row["model"], row["firmware"]))
        assert advisory in {m.advisory for m in matches}, (name, row)
