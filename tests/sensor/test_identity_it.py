"""IT and camera identities: certificates against Zeek's x509.log, Server banners and SNMP sysDescr
shapes, DHCP fingerprints to an OS, and the simulated cameras, whose identities reach real advisories."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_zeek_agreement import parse_conn_log

from core.vulns.csaf import read as read_advisory
from core.vulns.match import Catalogue, DeviceId
from sensor.decode import dhcp_os, identity, tls, x509
from sensor.decode.spec import MALFORMED, Fact, Session
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import CAMERA_CERT, CAMERA_IDENTITY, TLS_CAMERA, UPNP_CAMERA, write_pcap

ADVISORIES = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"
X509 = {  # the trace, and the x509.log of its Zeek btest (the server's certificate is the first row)
    "zeek/Traces/tls/tls1.2.pcap": "zeek/Baseline/scripts.base.protocols.ssl.tls-1.2/x509.log",
    "zeek/Traces/tls/tls-conn-with-extensions.pcap": "zeek/Baseline/scripts.base.protocols.ssl.basic/x509.log",
}


def utc(seconds: str) -> str:
    return datetime.fromtimestamp(float(seconds), timezone.utc).isoformat()


@pytest.mark.parametrize("trace", sorted(X509))
def test_the_servers_certificate_matches_zeeks_x509_log(trace, analyse, corpus):
    zeek = parse_conn_log(corpus / X509[trace])[0]
    run = analyse(trace)
    [event] = run.events
    a = event["attrs"]
    assert (a["cert_fingerprint"], a["cert_serial"], a["cert_subject"], a["cert_issuer"]) == (
        zeek["fingerprint"], zeek["certificate.serial"], zeek["certificate.subject"], zeek["certificate.issuer"])
    assert (a["cert_not_before"], a["cert_not_after"]) == (utc(zeek["certificate.not_valid_before"]),
                                                         utc(zeek["certificate.not_valid_after"]))
    assert a["san_dns"] == zeek["san.dns"] and "cert_self_signed" not in a
    server = run.facts(event["resp_h"])
    assert (server["tls_cert_subject"], server["tls_cert_issuer"]) == (zeek["certificate.subject"],
                                                                       zeek["certificate.issuer"])
    assert not run.errors


def test_a_cameras_self_signed_certificate_names_its_maker():
    """The simulator's camera certificate, made by openssl (``openssl x509 -noout -subject -issuer
    -dates -serial`` printed what is asserted here)."""
    cert = x509.parse(CAMERA_CERT)
    assert cert.subject == cert.issuer == "CN=DS-2CD2143G0-I,OU=Embedded Net,O=Hikvision,L=HZ,ST=ZJ,C=CN"
    assert (cert.serial, cert.self_signed, cert.parts["O"]) == ("5A3C01", True, "Hikvision")
    assert (cert.not_before.isoformat(), cert.not_after.isoformat()) == ("2025-06-01T00:00:00+00:00",
                                                                       "2035-05-30T00:00:00+00:00")
    assert identity.vendor_named(cert.parts["O"]) == "Hikvision"


def _certificate_message(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    body = len(chain).to_bytes(3, "big") + chain
    record = bytes([11]) + len(body).to_bytes(3, "big") + body
    return bytes([22, 3, 3]) + len(record).to_bytes(2, "big") + record


def test_a_malformed_certificate_is_counted_and_the_handshake_goes_on():
    session = Session()
    assert tls.decode(_certificate_message(CAMERA_CERT[:200]), False, session) == []
    assert session.malformed == 1 and not session.done
    facts = tls.decode(_certificate_message(CAMERA_CERT), False, session)
    assert {f.attribute for f in facts} == {"tls_cert_subject", "tls_cert_issuer", "tls_cert_self_signed", "vendor"}


def test_hostile_certificates_raise_only_malformed():
    rng, outcomes = random.Random(16), {"parsed": 0, "malformed": 0}
    for _ in range(3000):
        der = bytearray(CAMERA_CERT)
        for _ in range(rng.randrange(1, 6)):
            der[rng.randrange(len(der))] = rng.randrange(256)
        cut = bytes(der[: rng.randrange(len(der) + 1)]) if rng.random() < 0.3 else bytes(der)
        try:
            x509.parse(cut)
            outcomes["parsed"] += 1  # bytes in the signature or a name's text: still a certificate
        except MALFORMED:
            outcomes["malformed"] += 1
    assert outcomes["parsed"] > 100 and outcomes["malformed"] > 100


@pytest.mark.parametrize("kind, banner, facts", [
    ("server", "App-webs/", {"vendor": "Hikvision"}),
    ("server", "DNVRS-Webs", {"vendor": "Hikvision"}),
    ("server", "Dahua Rtsp Server", {"vendor": "Dahua"}),
    ("server", "AvigilonOnvifNvt/2.6.0.130", {"vendor": "Avigilon", "firmware": "2.6.0.130"}),  # Recog's example
    ("server", "Microsoft-IIS/10.0", {"os": "Windows"}),
    ("server", "nginx/1.18.0", {}),
    ("sysdescr", "Siemens, SIMATIC S7, CPU 315-2 PN/DP, 6ES7 315-2EH14-0AB0, HW: Version 4, FW: Version V3.2.6, "
                 "Ser: S C-X4U421302009", {"vendor": "Siemens", "product": "SIMATIC S7, CPU 315-2 PN/DP",
                                           "model": "6ES7 315-2EH14-0AB0", "firmware": "V3.2.6"}),
    ("sysdescr", "Siemens, SIMATIC NET, SCALANCE X204-2, 6GK5 204-2BB10-2AA3, HW: Version 3, FW: Version V05.02.02",
     {"vendor": "Siemens", "product": "SIMATIC NET, SCALANCE X204-2", "model": "6GK5 204-2BB10-2AA3",
      "firmware": "V05.02.02"}),
    ("sysdescr", "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE7, RELEASE SOFTWARE "
                 "(fc1)", {"vendor": "Cisco", "firmware": "12.2(55)SE7", "os": "Cisco IOS"}),
    ("sysdescr", " ; AXIS P1344; Network Camera; 5.40.9.2; Dec 05 2012 10:29; 188.3; 1;",
     {"vendor": "Axis", "model": "P1344", "firmware": "5.40.9.2"}),
    ("sysdescr", "Linux cam 3.10.0-957.el7.x86_64 #1 SMP Thu Oct 4 20:48:51 UTC 2018 x86_64",
     {"os": "Linux 3.10.0-957.el7.x86_64"}),
    ("sysdescr", "Hardware: Intel64 Family 6 Model 85 Stepping 4 AT/AT COMPATIBLE - Software: Windows Version 6.3 "
                 "(Build 17763 Multiprocessor Free)", {"os": "Windows 6.3"}),
    ("sysdescr", "", {}),
])
def test_banners_of_known_shapes_name_the_device(kind, banner, facts):
    assert {f.attribute: f.value for f in identity.banner_facts(kind, banner)} == facts


def test_snmp_sysdescr_answers_become_identity_facts():
    from sensor.decode import snmp

    def tlv(tag: int, value: bytes) -> bytes:
        return bytes([tag]) + (bytes([len(value)]) if len(value) < 128 else bytes([0x81, len(value)])) + value

    descr = b"Siemens, SIMATIC S7, CPU 315-2 PN/DP, 6ES7 315-2EH14-0AB0, HW: Version 4, FW: Version V3.2.6"
    binding = tlv(0x30, tlv(0x06, bytes.fromhex("2b06010201010100")) + tlv(0x04, descr))
    pdu = tlv(0xA2, tlv(0x02, b"\x07") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, binding))
    message = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, b"public") + pdu)
    facts = {f.attribute: (f.value, f.confidence) for f in snmp.decode(message, False, Session())
             if isinstance(f, Fact)}
    assert facts["model"] == ("6ES7 315-2EH14-0AB0", snmp.CONF_DESCRIPTION)
    assert facts["firmware"][0] == "V3.2.6" and facts["description"][0] == descr.decode()


@pytest.mark.parametrize("vendor_class, params, expected", [
    ("MSFT 5.0", "1,3,6,15,31,33,43,44,46,47,119,121,249,252", {"Windows", "Windows 10/11"}),
    ("MSFT 5.0", "1,15,3,6,44,46,47,31,33,121,249,43", {"Windows", "Windows 7"}),
    ("", "1,28,2,3,15,6,119,12,44,47,26,121,42", {"Linux (dhclient)"}),
    ("android-dhcp-11", "1,3,6,15,26,28,51,58,59,43", {"Android"}),
    ("udhcp 1.30.1", "1,3,6,12,15,28,42", {"Linux (BusyBox)"}),
    ("", "1,3,6,42", set()),  # the Zeek trace's client: no guess rather than a wrong one
])
def test_dhcp_fingerprints_name_the_os(vendor_class, params, expected):
    assert {os for os, _ in dhcp_os.guesses(vendor_class, params)} == expected


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """A short simulated plant (its first minutes hold the cameras' self-descriptions) through the
    pipeline with the observer: each device's facts by IP and by MAC."""
    path = tmp_path_factory.mktemp("identity") / "plant.pcap"
    summary = write_pcap(path, 6_000, seed=3)
    observations = [o for iv in iter_intervals([path], 60.0, Observer()) for o in iv.observations]
    devices = {d["name"]: d for d in summary["devices"]}

    def facts(name: str, source: str) -> dict[str, str]:
        d = devices[name]
        return {o["attribute"]: o["value"] for o in observations
                if o["source"] == source and (o["ip"] == d["ip"] or o["mac"] == d["mac"])}

    return facts


def test_simulated_cameras_describe_themselves(plant):
    for name, (vendor, model, firmware, serial, hardware, server) in CAMERA_IDENTITY.items():
        facts = plant(name, "http")
        assert (facts["vendor"], facts["model"], facts["firmware"], facts["serial"], facts["hardware_id"]) == (
            vendor, model, firmware, serial, hardware)
        assert facts.get("software", "") == server
    upnp = plant(UPNP_CAMERA[0], "http")
    assert (upnp["vendor"], upnp["model"], upnp["model_number"], upnp["serial"]) == (
        "AXIS", "AXIS P3245-LVE", "P3245-LVE", "ACCC8E5A1C02")
    assert plant(UPNP_CAMERA[0], "ssdp")["os"] == "Linux 4.9"
    camera = plant(TLS_CAMERA, "ssl")
    assert (camera["tls_cert_self_signed"], camera["vendor"]) == ("true", "Hikvision")
    # DHCP: the HMIs are Windows 10/11 by their request list, the cameras BusyBox's udhcpc
    assert {o for o, _ in dhcp_os.guesses("MSFT 5.0", "1,3,6,15,31,33,43,44,46,47,119,121,249,252")} >= {
        plant("hmi-1", "dhcp")["os"]}
    assert plant("cam-axis-1", "dhcp")["os"] == "Linux (BusyBox)"


@pytest.mark.skipif(not ADVISORIES.is_dir(), reason="shared advisories not available")
def test_simulated_cameras_match_real_advisories(plant):
    catalogue = Catalogue([read_advisory(p) for p in ADVISORIES.glob("*.json")])

    def matches(name: str) -> set[tuple[str, str]]:
        f = plant(name, "http")
        return {(m.cve, m.confidence) for m in catalogue.match(DeviceId(name, f["vendor"], f["model"], f["firmware"]))}

    assert matches("cam-hik-1") == {("CVE-2017-7921", "exact"), ("CVE-2017-7923", "exact")}  # ICSA-17-124-01
    assert matches("cam-ipro-1") == {("CVE-2022-4621", "exact")}  # ICSA-23-012-04
    assert matches("cam-axis-1") == set()
