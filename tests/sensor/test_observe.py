"""Observer on real captures (values checked against the captures' Zeek logs), plus fuzzing."""

from __future__ import annotations

import contextlib
from datetime import timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor import wire
from sensor.meter import oui
from sensor.decode import arp, dhcp, dns, nbns
from sensor.meter.observe import MALFORMED, Observer

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def capture(rel: str) -> Path:
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"corpus file {rel} not available")
    return path


def pipeline_calls(path: Path) -> list[tuple]:
    """The ``Observer.packet`` arguments the packet pipeline would pass for this capture."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import rdpcap

    calls = []
    for pkt in rdpcap(str(path)):
        macs = (pkt[Ether].src, pkt[Ether].dst) if Ether in pkt else ("", "")
        if ARP in pkt:
            calls.append((float(pkt.time), *macs, 0x0806, None, None, 0, 0, bytes(pkt[ARP])))
        elif UDP in pkt and (IP in pkt or IPv6 in pkt):
            net, udp = (pkt[IP] if IP in pkt else pkt[IPv6]), pkt[UDP]
            if {udp.sport, udp.dport} & Observer.UDP_PORTS:
                ethertype = 0x0800 if IP in pkt else 0x86DD
                calls.append((float(pkt.time), *macs, ethertype, net.src, net.dst, udp.sport,
                              udp.dport, bytes(udp.payload)))
    return calls


def observe(*rels: str) -> tuple[Observer, list[dict], list[dict]]:
    observer = Observer()
    for rel in rels:
        for call in pipeline_calls(capture(rel)):
            observer.packet(*call)
    return observer, *observer.flush()


def facts(rows: list[dict], attribute: str, source: str | None = None) -> set[tuple[str, str, str]]:
    return {(r["mac"], r["ip"], r["value"]) for r in rows
            if r["attribute"] == attribute and source in (None, r["source"])}


def test_dhcp_matches_zeek_dhcp_log():
    # zeek/Baseline/scripts.base.protocols.dhcp.dhcp-all-msg-types/dhcp.log
    observer, rows, events = observe("zeek/Traces/dhcp/dhcp.pcap")
    client = "90:b1:1c:99:49:29"
    assert [e["action"] for e in events] == [
        "DISCOVER", "OFFER", "REQUEST", "NAK", "REQUEST", "ACK", "DECLINE", "RELEASE", "INFORM"]
    assert all(e["protocol"] == "dhcp" and e["attrs"]["mac"] == client for e in events)
    ack = events[5]
    assert ack["attrs"]["assigned_addr"] == "128.2.6.189"
    assert ack["attrs"]["domain"] == "cmu.edu" and ack["attrs"]["lease_time"] == "900"
    assert events[3]["attrs"]["message"] == "requested address not available"
    assert (client, "128.2.6.189", "128.2.6.189") in facts(rows, "ip", "dhcp")
    assert {v for _, _, v in facts(rows, "hostname", "dhcp")} == {"btest.is.cool"}
    assert (client, "", "Dell Inc.") in facts(rows, "vendor", "oui")
    assert observer.errors == 0


def test_dhcp_discover_param_list():
    # zeek/Baseline/scripts.base.protocols.dhcp.dhcp-discover-msg-types/dhcp.log
    _, rows, events = observe("zeek/Traces/dhcp/dhcp_discover_param_req_and_client_id.pcap")
    mac = "00:0b:82:01:fc:42"
    assert events[0]["action"] == "DISCOVER"
    assert events[0]["attrs"]["requested_addr"] == "208.67.222.222"
    assert (mac, "", "1,3,6,42") in facts(rows, "dhcp_fingerprint")
    assert (mac, "", "test0000") in facts(rows, "hostname", "dhcp")
    assert (mac, "208.67.222.222", "208.67.222.222") in facts(rows, "requested_ip", "dhcp")
    assert (mac, "", "Grandstream Networks, Inc.") in facts(rows, "vendor")


def test_dhcp_plc_bootp_and_windows_vendor_class():
    # EIP-IPAddressChangeAttempt/dhcp.log: 00:e0:62:60:35:d0 assigned 192.168.10.131
    _, rows, _ = observe("ics-pcap/EIP/EIP-IPAddressChangeAttempt/EIP-IPAddressChangeAttempt.pcap")
    assert ("00:e0:62:60:35:d0", "192.168.10.131", "192.168.10.131") in facts(rows, "ip", "dhcp")
    assert ("00:e0:62:60:35:d0", "", "KoyoDL405") in facts(rows, "hostname", "dhcp")
    # a plain BOOTP reply (no DHCP options) assigning the Rockwell PLC its address
    assert ("00:00:bc:3e:eb:e4", "192.168.10.120", "192.168.10.120") in facts(rows, "ip", "dhcp")
    assert ("00:00:bc:3e:eb:e4", "", "Rockwell Automation") in facts(rows, "vendor")
    # the dns.log's NBNS answers: 192.168.10.105 is DBLICENSESERVER, answering for itself
    assert ("00:1d:09:99:b2:2c", "192.168.10.105", "DBLICENSESERVER") in facts(rows, "hostname", "nbns")

    _, rows, _ = observe("icsnpp/profinet-io-cm/traces/profinet_io_cm_mixed_1.pcap")
    assert ("e4:11:5b:5a:d9:73", "", "MSFT 5.0") in facts(rows, "dhcp_vendor_class")
    assert ("00:0e:8c:ef:75:c5", "", "siemens-x208-switch") in facts(rows, "hostname", "dhcp")
    assert ("00:0e:8c:ef:75:c5", "", "Siemens AG") in facts(rows, "vendor")


def test_arp_pairs_match_zeek():
    # zeek/Baseline/scripts.base.protocols.arp.basic/.stdout
    _, rows, events = observe("zeek/Traces/arp-who-has.pcap")
    assert facts(rows, "ip", "arp") == {
        ("78:31:c1:c6:3f:c2", "10.0.0.2", "10.0.0.2"), ("f8:ed:a5:c0:a4:f1", "10.0.0.1", "10.0.0.1")}
    assert facts(rows, "vendor") == {
        ("78:31:c1:c6:3f:c2", "", "Apple, Inc."), ("f8:ed:a5:c0:a4:f1", "", "ARRIS Group, Inc.")}
    assert events == []


def test_dns_query_event_and_answers():
    # zeek/Baseline/scripts.base.protocols.dns.flip/dns.log
    _, rows, events = observe("zeek/Traces/dns53.pcap")
    answers = ["206.109.64.186", "216.1.205.81", "205.149.163.211", "134.53.131.135",
               "134.53.131.192", "128.104.18.148", "204.152.186.139", "63.77.33.226"]
    (event,) = events
    assert (event["orig_h"], event["resp_h"], event["resp_p"]) == ("10.20.1.31", "207.158.192.40", 53)
    assert event["action"] == "query" and event["status"] == "NOERROR"
    assert event["attrs"]["qname"] == "us.v27.distributed.net"
    assert event["attrs"]["trans_id"] == "25701"
    assert event["attrs"]["answers"].split(",") == answers
    assert facts(rows, "dns_name", "dns") == {("", ip, "us.v27.distributed.net") for ip in answers}


def test_mdns_hostnames_match_zeek_notices():
    # zeek/Baseline/scripts.policy.protocols.dns.detect-external-names-mdns-broadcast-2/notice.log
    _, rows, _ = observe("zeek/Traces/dns/mdns.pcap")
    named = {(ip, value.lower()) for _, ip, value in facts(rows, "hostname", "mdns")}
    assert named == {(ip, "johanna-qemu-virtual-machine") for ip in (
        "10.0.2.7", "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4", "fd52:429e:c03c:8235:5968:5bc6:1563:f82f")}
    assert {mac for mac, _, _ in facts(rows, "hostname", "mdns")} == {"8a:3c:d6:e1:4d:c4"}
    assert facts(rows, "vendor") == set()  # 8a:… is locally administered


def test_mdns_service_instance():
    _, rows, _ = observe("icsnpp/opcua-binary/pcaps/open62541_discover_getendpoints_discover_urls.pcap")
    assert ("", "192.168.224.105", "_opcua-tcp._tcp") in facts(rows, "mdns_service")
    assert ("", "192.168.224.105", "LDS-Maui-16714") in facts(rows, "mdns_instance")
    hostnames = {value for _, _, value in facts(rows, "hostname", "mdns")}
    assert hostnames == {"Maui-16714"}  # not the DNS-SD instance name, not 127.0.0.1
    assert "127.0.0.1" not in {ip for _, ip, _ in facts(rows, "hostname")}


def test_nbns_registrations():
    _, rows, _ = observe("nttcom/CIFS-NBNS-COM/Traces/test.pcap")
    assert facts(rows, "hostname", "nbns") == {("3c:a6:f6:29:43:51", "192.168.1.215", "MACBOOKAIR-4351")}
    assert facts(rows, "workgroup", "nbns") == {("3c:a6:f6:29:43:51", "192.168.1.215", "WORKGROUP")}

    _, rows, _ = observe("iti/beckoff/addroute1.pcapng")
    assert ("00:01:05:0d:75:60", "192.168.1.8", "CX_0D7560") in facts(rows, "hostname", "nbns")
    assert ("00:01:05:0d:75:60", "", "Beckhoff Automation GmbH") in facts(rows, "vendor")


def test_rows_fit_the_wire_schema_and_are_deduplicated():
    observer = Observer()
    calls = pipeline_calls(capture("zeek/Traces/dhcp/dhcp.pcap"))
    for call in calls + calls:  # every packet twice
        observer.packet(*call)
    rows, events = observer.flush()
    keys = [(r["mac"], r["ip"], r["attribute"], r["value"], r["source"]) for r in rows]
    assert len(keys) == len(set(keys))
    first_ts = min(call[0] for call in calls)
    vendor_row = next(r for r in rows if r["attribute"] == "vendor" and r["mac"] == "90:b1:1c:99:49:29")
    assert vendor_row["ts"].timestamp() == pytest.approx(first_ts)  # earliest sighting kept
    assert all(r["ts"].tzinfo is timezone.utc for r in rows + events)
    assert wire.table_from_rows("observations", rows).num_rows == len(rows)
    assert wire.table_from_rows("events", events).num_rows == len(events) == 18
    assert observer.flush() == ([], [])  # flush starts a new interval


def test_ip_pairs_confidence_and_routers():
    observer = Observer()
    observer.ip_pairs(10.0, [("00:1b:1b:00:00:01", "10.0.0.5"), ("01:00:5e:00:00:01", "10.0.0.9"),
                             ("00:1b:1b:00:00:02", "0.0.0.0")])
    observer.ip_pairs(11.0, [("00:1b:1b:00:00:01", "10.0.0.5")]
                      + [("00:00:bc:00:00:01", f"198.51.100.{i}") for i in range(20)])
    rows, _ = observer.flush()
    ip_rows = [r for r in rows if r["source"] == "ip"]
    single = next(r for r in ip_rows if r["attribute"] == "ip")
    assert (single["mac"], single["ip"], single["ts"].timestamp()) == ("00:1b:1b:00:00:01", "10.0.0.5", 10.0)
    assert single["confidence"] < 90  # below ARP's
    router = [r for r in ip_rows if r["mac"] == "00:00:bc:00:00:01"]
    assert [(r["attribute"], r["value"]) for r in router] == [("role", "router")]
    assert len(ip_rows) == 2
    assert ("00:00:bc:00:00:01", "", "Rockwell Automation") in facts(rows, "vendor")


def test_dns_query_without_response_and_pointer_loop():
    observer = Observer()
    query = bytes.fromhex("abcd0100000100000000000003666f6f036c616e0000010001")  # foo.lan A?
    observer.packet(1.0, "00:1b:1b:00:00:01", "00:00:bc:00:00:01", 0x0800, "10.0.0.5", "10.0.0.1",
                    40000, 53, query)
    loop = bytes.fromhex("abcd81800001000000000000" "0161c00c" "00010001")  # name "a.a.a.a…" loops
    observer.packet(1.1, "00:00:bc:00:00:01", "00:1b:1b:00:00:01", 0x0800, "10.0.0.1", "10.0.0.5",
                    53, 40000, loop)
    _, events = observer.flush()
    assert [(e["attrs"]["qname"], e["attrs"]["qtype"], e["status"]) for e in events] == [("foo.lan", "A", "")]
    assert observer.errors == 1


def test_vendor_lookup():
    assert oui.vendor("00:1B:1B:12:34:56") == "Siemens AG"
    assert oui.vendor("00-0e-8c-00-00-01") == "Siemens AG"
    assert oui.vendor("70:b3:d5:00:10:00") == "SOREDI touch systems GmbH"  # 36-bit MA-S block
    assert oui.vendor("00:55:da:1f:00:00") == "KoolPOS Inc."  # 28-bit MA-M block
    assert oui.vendor("02:42:ac:11:00:02") is None  # locally administered (docker)
    assert oui.vendor("01:00:5e:00:00:fb") is None  # multicast
    assert oui.vendor("ff:ff:ff:ff:ff:ff") is None
    assert oui.vendor("not a mac") is None


# -- fuzzing: no exception other than the "malformed" ones escapes a decoder, none the Observer --

def _payloads(rel: str, port: int | None) -> list[bytes]:
    path = CORPUS / rel
    if not path.exists():
        return []
    return [call[-1] for call in pipeline_calls(path) if port is None and call[3] == 0x0806
            or port is not None and port in (call[6], call[7])]


SEEDS = {
    arp.parse: _payloads("zeek/Traces/arp-who-has.pcap", None),
    dhcp.parse: _payloads("zeek/Traces/dhcp/dhcp.pcap", 67),
    dns.parse: _payloads("zeek/Traces/dns53.pcap", 53) + _payloads("zeek/Traces/dns/mdns.pcap", 5353),
    nbns.parse: _payloads("ndpi/netbios.pcap", 137),
}


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A real payload with a few bytes overwritten, then maybe truncated or extended."""
    data = bytearray(draw(st.sampled_from(seeds)) if seeds else draw(st.binary(max_size=600)))
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data) + draw(st.binary(max_size=8))


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("decoder", list(SEEDS), ids=lambda d: d.__module__)
@FUZZ
@given(data=st.data())
def test_decoders_reject_garbage_cleanly(decoder, data):
    payload = data.draw(st.one_of(st.binary(max_size=600), mutated(SEEDS[decoder])))
    with contextlib.suppress(MALFORMED):
        decoder(payload)


@FUZZ
@given(port=st.sampled_from(sorted(Observer.UDP_PORTS) + [0]),
       payload=st.one_of(st.binary(max_size=600), *(mutated(s) for s in SEEDS.values())))
def test_observer_never_raises(port, payload):
    observer = Observer()
    ethertype = 0x0806 if port == 0 else 0x0800
    observer.packet(1.0, "00:1b:1b:00:00:01", "ff:ff:ff:ff:ff:ff", ethertype, "10.0.0.5",
                    "10.0.0.255", port, port, payload)
    rows, events = observer.flush()
    wire.table_from_rows("observations", rows)
    wire.table_from_rows("events", events)
