"""SSDP decoder: announcements, searches and responses on real captures; what devices say of themselves."""

from __future__ import annotations

from sensor.decode import ssdp
from sensor.decode.spec import Session


def test_announcements_describe_the_device(analyse):
    run = analyse("nttcom/SSDP-COM/Traces/test.pcap")
    notify = [e for e in run.events if e["action"] == "NOTIFY"]
    assert notify and all(e["attrs"]["nts"] == "ssdp:alive" and e["resp_p"] == 1900 for e in notify)
    assert {e["attrs"]["location"] for e in notify} == {"http://192.168.1.131:39520/description.xml"}
    facts = run.facts("192.168.1.131")
    assert (facts["os"], facts["upnp_device"], facts["software"]) == (
        "Linux 4.14.76+", "MediaRenderer", "Linux/4.14.76+ UPnP/1.0 CyberLinkJava/1.8")
    answers = [e for e in run.events if e["action"] == "response"]  # a router answering a unicast search
    assert answers and {e["status"] for e in answers} == {"200"} and run.facts("192.168.1.1")["upnp_device"] == "WFADevice"
    assert {f["service"] for f in run.flows if f["proto"] == "udp" and 1900 in (f["resp_p"], f["orig_p"])} == {"ssdp"}


def test_searches_on_any_port(analyse):
    [search, *_] = analyse("camera/ndpi/ssdp-m-search.pcap").events  # Plex's discovery uses port 32412
    assert (search["action"], search["resp_p"]) == ("M-SEARCH", 32412)
    [search, *_] = analyse("camera/ndpi/ssdp-m-search-ua.pcap").events
    assert search["attrs"]["target"] == "urn:dial-multiscreen-org:service:dial:1"


def test_a_search_names_no_device_type_and_bare_http_is_not_ssdp():
    items = ssdp.decode(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
                        b"ST: urn:schemas-upnp-org:device:MediaServer:1\r\nMX: 2\r\n\r\n", True, Session())
    assert [type(i).__name__ for i in items] == ["Event"] and items[0].attrs["mx"] == "2"
    assert ssdp.detect(b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:1\r\n\r\n")
    assert not ssdp.detect(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
