"""HTTP/1.x decoder: Zeek's http.log fields on real captures, camera API hints, ONVIF device
information, credentials flagged and never kept."""

from __future__ import annotations

import pytest
from test_zeek_agreement import parse_conn_log

from sensor.decode import http
from sensor.decode.spec import Event, Fact, Session

ZEEK = {
    "zeek/Traces/http/get.pcap": "zeek/Baseline/core.tcp.reassembly-known-ports/http.log",
    "zeek/Traces/http/multipart.pcap": "zeek/Baseline/scripts.base.protocols.http.multipart-extract/http.log",
    "zeek/Traces/http/zeek-image-1080-80-x.pcapng": "zeek/Baseline/scripts.base.protocols.http.flip-content-line-resp/"
                                                    "http.log.cut",
}


@pytest.mark.parametrize("trace", sorted(ZEEK))
def test_requests_match_zeeks_http_log(trace, analyse, corpus):
    [zeek] = parse_conn_log(corpus / ZEEK[trace])
    [event] = [e for e in analyse(trace).events if e["protocol"] == "http"]
    ours = {"method": event["action"], "host": event["attrs"]["host"], "uri": event["attrs"]["uri"],
            "version": event["attrs"]["version"], "user_agent": event["attrs"]["user_agent"],
            "status_code": event["status"], "status_msg": event["attrs"]["status_msg"]}
    assert ours == {k: zeek[k] for k in ours}


def test_server_and_client_software_become_facts(analyse):
    run = analyse("zeek/Traces/http/get.pcap")
    assert run.facts("192.150.187.43")["software"] == "Apache/2.4.3 (Fedora)"
    assert run.facts("141.142.228.5")["client_software"] == "Wget/1.14 (darwin12.2.0)"
    assert [f["service"] for f in run.flows] == ["http"]


def run(*messages: tuple[bool, bytes]) -> tuple[list[Event], list[Fact], Session]:
    session, items = Session(), []
    for is_orig, pdu in messages:
        items += http.decode(pdu, is_orig, session)
    return ([i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Fact)], session)


def values(events: list[Event], facts: list[Fact]) -> str:
    return " ".join([str(v) for e in events for v in e.attrs.values()] + [f.value for f in facts])


def test_camera_apis_hint_at_the_vendor_and_basic_auth_is_flagged_not_kept():
    [event], facts, _ = run((True, (b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: 10.0.0.53\r\n"
                                    b"Authorization: Basic YWRtaW46MTIzNDU=\r\n\r\n")),
                            (False, b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 0\r\n\r\n"))
    assert (event.action, event.status, event.attrs["api"], event.attrs["auth_scheme"]) == ("GET", "200", "isapi", "Basic")
    assert event.attrs["cleartext_credentials"] == "true"
    assert Fact("vendor", "Hikvision", about_sender=False, confidence=http.CONF_API_HINT) in facts
    assert "YWRtaW46MTIzNDU" not in values([event], facts)
    assert http.camera_api("/axis-cgi/jpg/image.cgi") == ("vapix", "Axis")
    assert http.camera_api("/cgi-bin/magicBox.cgi?action=getSystemInfo") == ("dahua-cgi", "Dahua")
    assert http.camera_api("http://cam/RPC2_Login") == ("dahua-rpc", "Dahua")
    assert http.camera_api("/cgi-bin/luci") == ("", "")


def test_credentials_in_the_url_are_redacted():
    [event], facts, _ = run((True, b"GET /cgi-bin/snapshot.cgi?channel=1&user=admin&pwd=hunter2 HTTP/1.1\r\n\r\n"))
    assert event.attrs["uri"] == "/cgi-bin/snapshot.cgi?channel=1&user=*&pwd=*"
    assert event.attrs["cleartext_credentials"] == "true" and "hunter2" not in values([event], facts)


ONVIF_REQUEST = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b'<s:Header><wsse:Security><wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password Type="'
    b'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'
    b"c2VjcmV0ZGlnZXN0</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header>"
    b'<s:Body><tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')
ONVIF_RESPONSE = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
    b"<env:Body><tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>"
    b"<tds:Model>DS-2CD2142FWD-I</tds:Model><tds:FirmwareVersion>V5.5.0 build 170725</tds:FirmwareVersion>"
    b"<tds:SerialNumber>DS-2CD2142FWD-I20170811AAWR123456789</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
    b"</tds:GetDeviceInformationResponse></env:Body></env:Envelope>")


def soap(head: bytes, body: bytes) -> bytes:
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_onvif_device_information_names_the_camera():
    request = soap(b"POST /onvif/device_service HTTP/1.1\r\nHost: 10.0.0.53\r\nContent-Type: application/soap+xml\r\n",
                   ONVIF_REQUEST)
    response = soap(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n", ONVIF_RESPONSE)
    assert http.PROTOCOL.frame(request + response) == len(request)  # the SOAP body travels with its head
    [event], facts, session = run((True, request), (False, response))
    assert (event.attrs["api"], event.attrs["onvif_action"], event.attrs["auth_scheme"]) == (
        "onvif", "GetDeviceInformation", "WS-Security")
    assert "cleartext_credentials" not in event.attrs  # a password digest is not clear text
    assert {(f.attribute, f.value) for f in facts} == {
        ("vendor", "HIKVISION"), ("model", "DS-2CD2142FWD-I"), ("firmware", "V5.5.0 build 170725"),
        ("serial", "DS-2CD2142FWD-I20170811AAWR123456789"), ("hardware_id", "88")}
    assert session.services == {"http", "onvif"}
    [event], _, _ = run((True, soap(b"POST /onvif/device_service HTTP/1.1\r\n",
                                    ONVIF_REQUEST.replace(b"#PasswordDigest", b"#PasswordText"))))
    assert event.attrs["cleartext_credentials"] == "true"


def test_a_upnp_description_names_the_device():
    body = (b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
            b"<friendlyName>NVR-Lobby</friendlyName><manufacturer>Hikvision</manufacturer>"
            b"<modelName>DS-7608NI-K2</modelName><serialNumber>DS-7608NI-K20820190101CCRR</serialNumber></device></root>")
    _, facts, _ = run((False, soap(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n", body)))
    assert {(f.attribute, f.value) for f in facts} == {
        ("device_name", "NVR-Lobby"), ("vendor", "Hikvision"), ("model", "DS-7608NI-K2"),
        ("serial", "DS-7608NI-K20820190101CCRR")}


def test_a_challenge_is_recorded_and_responses_pair_in_order():
    events, _, _ = run((True, b"GET /a HTTP/1.1\r\n\r\n"), (True, b"GET /b HTTP/1.1\r\n\r\n"),
                       (False, b"HTTP/1.1 100 Continue\r\n\r\n"),
                       (False, (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="IP Camera", nonce="1"\r\n'
                                b"Content-Length: 0\r\n\r\n")),
                       (False, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
    assert [(e.attrs["uri"], e.status) for e in events] == [("/a", "401"), ("/b", "404")]
    assert (events[0].attrs["auth_required"], events[0].attrs["www_authenticate"], events[0].attrs["realm"]) == (
        "true", "Digest", "IP Camera")


def test_a_response_without_its_request_stands_alone_and_a_video_stream_ends_decoding():
    [event], _, session = run((False, b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=x\r\n\r\n"))
    assert (event.action, event.status, session.done) == ("-", "200", True)
    assert run((True, b"CONNECT cam:443 HTTP/1.1\r\n\r\n"))[2].done


def test_detection_wants_a_request_or_status_line():
    assert http.detect(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") and http.detect(b"HTTP/1.0 200 OK\r\n\r\n")
    assert not http.detect(b"DESCRIBE rtsp://cam/ RTSP/1.0\r\n") and not http.detect(b"GET /")
    assert not http.detect(b"\x16\x03\x01\x00\xa5\x01")


def test_a_default_basic_login_is_flagged_only_when_the_camera_accepts_it():
    request = (b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: 10.0.0.53\r\n"
               b"Authorization: Basic YWRtaW46MTIzNDU=\r\n\r\n")  # admin:12345, Hikvision's old default
    for status, flagged in ((b"200 OK", True), (b"401 Unauthorized", False)):
        [event], _, session = run((True, request), (False, b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n"))
        assert (event.attrs.get("default_credentials") == "true") is flagged
        assert session.vars["default_logins"] == []  # answered: no longer remembered
    own = b"Authorization: Basic YWRtaW46c2VjcmV0LTk5\r\n\r\n"  # admin:secret-99
    [event], _, _ = run((True, request.replace(b"Authorization: Basic YWRtaW46MTIzNDU=\r\n\r\n", own)),
                        (False, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    assert "default_credentials" not in event.attrs
