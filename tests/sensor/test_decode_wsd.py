"""WS-Discovery decoder: ONVIF probes and matches; what a camera's scopes say about it."""

from __future__ import annotations

from sensor.decode import wsd
from sensor.decode.spec import Fact, Session

PROBE_MATCH = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    b"<env:Header><wsa:MessageID>uuid:8a6a9f1c-1dd2-11b2-a105-bcad28e032cd</wsa:MessageID>"
    b"<wsa:RelatesTo>uuid:0b3a4f8e-5c1d-4c7a-9e1f-2a9d6b7c8d9e</wsa:RelatesTo>"
    b"<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></env:Header>"
    b"<env:Body><d:ProbeMatches><d:ProbeMatch><wsa:EndpointReference><wsa:Address>"
    b"urn:uuid:8a6a9f1c-1dd2-11b2-a105-bcad28e032cd</wsa:Address></wsa:EndpointReference>"
    b"<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
    b"<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
    b"onvif://www.onvif.org/hardware/DS-2CD2142FWD-I onvif://www.onvif.org/name/HIKVISION%20Lobby "
    b"onvif://www.onvif.org/location/city/tokyo</d:Scopes>"
    b"<d:XAddrs>http://10.0.0.53/onvif/device_service http://[fe80::bead:28ff:fee0:32cd]/onvif/device_service"
    b"</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>")


def test_a_probe_match_describes_the_camera():
    [event, *facts] = wsd.decode(PROBE_MATCH, True, Session("udp"))
    assert event.action == "ProbeMatches" and event.attrs["types"] == "dn:NetworkVideoTransmitter tds:Device"
    assert event.attrs["xaddrs"].startswith("http://10.0.0.53/onvif/device_service ")
    assert {(f.attribute, f.value) for f in facts} == {
        ("model", "DS-2CD2142FWD-I"), ("device_name", "HIKVISION Lobby"), ("location", "city/tokyo"),
        ("role", "camera")}
    assert all(isinstance(f, Fact) and f.about_sender for f in facts)


def test_probes_and_resolves_say_nothing_about_the_sender(analyse):
    run = analyse("camera/ndpi/upnp.pcap")
    assert {e["action"] for e in run.events} == {"Resolve"} and not [o for o in run.observations
                                                                    if o["attribute"] != "protocol_served"]
    assert {f["service"] for f in run.flows} == {"ws-discovery"}


def test_roles_from_types_and_scopes():
    assert wsd.role(["dn:NetworkVideoStorage"], []) == "nvr"
    assert wsd.role([], ["onvif://www.onvif.org/type/Network_Video_Storage"]) == "nvr"
    assert wsd.role(["wsdp:Device", "pub:Computer"], []) == ""
    assert not wsd.detect(b"<html><body>discovery</body></html>") and wsd.detect(PROBE_MATCH)
