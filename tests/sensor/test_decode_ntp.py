"""NTP decoder: client requests answered by server replies, as in Zeek's ntp.log; control and
private (monlist) modes named."""

from __future__ import annotations

import struct

from test_zeek_agreement import parse_conn_log

from sensor.decode import ntp
from sensor.decode.spec import Session


def test_exchanges_match_zeeks_ntp_log(analyse, corpus):
    zeek = parse_conn_log(corpus / "zeek/Baseline/scripts.base.protocols.ntp.ntp/ntp.log")
    requests = {(z["id.resp_h"], z["xmt_time"][:14]): z for z in zeek if z["mode"] == "3"}
    replies = {(z["id.resp_h"], z["org_time"][:14]): z for z in zeek if z["mode"] == "4"}
    events = analyse("zeek/Traces/ntp/ntp.pcap").events
    assert len(events) == len(requests) == 16
    for event in events:
        a = event["attrs"]
        [request] = [r for (host, _), r in requests.items() if host == event["resp_h"]]
        assert (a["version"], a["mode"], a["stratum"], a["ref_id"]) == (request["version"], "client", request["stratum"],
                                                                         request["ref_id"])
        [reply] = [r for (host, _), r in replies.items() if host == event["resp_h"]]
        assert (event["status"], a["server_ref_id"]) == (f"stratum {reply['stratum']}", reply["ref_id"].replace(
            "\\x00", ""))


def test_monlist_and_control_queries_are_named():
    monlist = bytes((0x17, 0x00, 0x03, 42)) + bytes(4)  # mode 7, version 2, implementation 3, MON_GETLIST_1
    assert ntp.detect(monlist)
    [event] = ntp.decode(monlist, True, Session("udp"))
    assert (event.action, event.attrs["request"]) == ("private", "mon_getlist_1")
    readvar = struct.pack(">BBHHHHH", 0x16, 0x02, 1, 0, 0, 0, 0)  # mode 6, version 2, read variables
    [event] = ntp.decode(readvar, True, Session("udp"))
    assert (event.action, event.attrs["opcode"]) == ("control", "read_variables")


def test_detection_wants_a_plausible_header():
    client = bytes((0x23,)) + bytes(47)  # version 4, mode 3
    assert ntp.detect(client) and ntp.detect(client + bytes(20))
    assert not ntp.detect(client[:40]) and not ntp.detect(bytes((0x3B,)) + bytes(47))  # short; version 7


def test_dns_queries_that_look_like_ntp_are_not_ntp():
    from scapy.layers.dns import DNS, DNSQR

    query = bytes(DNS(id=0x1621, rd=1, qd=DNSQR(qname="historian.plant.local")))  # id byte 0x16: "v2, control"
    padded = bytes(DNS(id=0x2300, rd=1, qd=DNSQR(qname="ntp.plant.local.")))  # 0x23: "v4 client"
    assert not ntp.detect(query) and not ntp.detect(padded + bytes(48 - len(padded)))
