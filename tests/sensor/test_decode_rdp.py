"""Remote-access protocols the sensor names so the core can tell remote sessions: RDP (on a real
internet scanner's probe), VNC and TeamViewer; S7's TPKT connection requests stay S7's."""

from __future__ import annotations

from sensor.decode import rdp, s7comm, teamviewer, vnc
from sensor.decode.spec import Session

REQUEST = bytes.fromhex("0300002924e00000000000") + b"Cookie: mstshash=eng\r\n" + bytes.fromhex("0100080003000000")
CONFIRM = bytes.fromhex("030000130ed000001234000200080001000000")  # the server picks TLS


def test_a_scanners_rdp_probe_on_port_502_is_named(analyse):
    run = analyse("zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap")
    [probe] = [e for e in run.events if e["protocol"] == "rdp"]
    assert probe["action"] == "connect" and probe["resp_p"] == 502
    assert "rdp" in {f["service"] for f in run.flows}


def test_request_and_confirm_name_the_security_protocols_not_the_user():
    session = Session()
    [event] = rdp.decode(REQUEST, True, session)
    assert rdp.decode(CONFIRM, False, session) == []
    assert (event.action, event.status) == ("connect", "OK") and session.done
    assert event.attrs | {"rtt": ""} == {"requested_protocols": "ssl,hybrid", "selected_protocol": "ssl", "rtt": ""}
    assert "eng" not in str(event.attrs) and session.services == {"rdp"}
    assert rdp.detect(REQUEST) and rdp.frame(REQUEST) == len(REQUEST)


def test_s7_connection_requests_are_not_rdp():
    cotp_cr = bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102")
    assert s7comm.detect(cotp_cr) and not rdp.detect(cotp_cr)


def test_vnc_versions_and_teamviewer():
    session = Session()
    [event] = vnc.decode(b"RFB 003.008\n", False, session)
    vnc.decode(b"RFB 003.007\n", True, session)
    assert event.attrs | {"rtt": ""} == {"server_version": "3.8", "client_version": "3.7", "rtt": ""} and session.done
    assert not vnc.detect(b"RFB x\n") and teamviewer.detect(bytes.fromhex("17240a00") + bytes(20))
    assert not teamviewer.detect(b"\x17\x03\x03\x00\x20") and not teamviewer.detect(b"\x17\x24")
