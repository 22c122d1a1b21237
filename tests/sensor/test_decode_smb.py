"""SMB decoder: the negotiated dialect and SMBv1, NetBIOS names, NTLMSSP host facts (messages built
with Scapy's SMB layers, so our parser is checked against an independent encoder)."""

from __future__ import annotations

import struct

from scapy.layers.netbios import NBTSession
from scapy.layers.smb import (
    SMB_Dialect,
    SMB_Header,
    SMBNegotiate_Request,
    SMBNegotiate_Response_NoSecurity,
)
from scapy.layers.smb2 import (
    SMB2_Header,
    SMB2_Negotiate_Protocol_Request,
    SMB2_Negotiate_Protocol_Response,
)

from sensor.decode import ntlm, smb
from sensor.decode.spec import Event, Session


def test_smb2_negotiation():
    session = Session()
    request = bytes(NBTSession() / SMB2_Header() / SMB2_Negotiate_Protocol_Request(Dialects=[0x0202, 0x0210, 0x0311]))
    response = bytes(NBTSession() / SMB2_Header(Flags="SMB2_FLAGS_SERVER_TO_REDIR")
                     / SMB2_Negotiate_Protocol_Response(DialectRevision=0x0311))
    assert smb.detect(request) and smb.frame(request + response) == len(request)
    [event] = smb.decode(request, True, session)
    assert smb.decode(response, False, session) == []
    assert (event.action, event.status, event.attrs) == ("negotiate", "SMB 3.1.1",
                                                         {"dialects": "SMB 2.0.2,SMB 2.1,SMB 3.1.1"})
    assert session.services == {"smb"}


def test_smb1_negotiation_is_flagged():
    session = Session()
    dialects = [SMB_Dialect(DialectString=d) for d in ("PC NETWORK PROGRAM 1.0", "NT LM 0.12", "SMB 2.002")]
    [event] = smb.decode(bytes(NBTSession() / SMB_Header() / SMBNegotiate_Request(Dialects=dialects)), True, session)
    smb.decode(bytes(NBTSession() / SMB_Header(Flags=0x98) / SMBNegotiate_Response_NoSecurity(DialectIndex=1)), False,
               session)
    assert (event.status, event.attrs["smb1"], event.attrs["smb1_offered"]) == ("NT LM 0.12", "true", "true")
    session = Session()
    [event] = smb.decode(bytes(NBTSession() / SMB_Header() / SMBNegotiate_Request(Dialects=dialects)), True, session)
    smb.decode(bytes(NBTSession() / SMB2_Header(Flags="SMB2_FLAGS_SERVER_TO_REDIR")
                     / SMB2_Negotiate_Protocol_Response(DialectRevision=0x0202)), False, session)
    assert event.status == "SMB 2.0.2" and "smb1" not in event.attrs  # the server answers in SMB2: no SMBv1


def test_netbios_session_requests_name_both_hosts(analyse):
    run = analyse("ndpi/netbios.pcap")
    assert run.facts("10.17.113.129")["netbios_name"] == "IBIFHQ11WS023"
    assert run.facts("10.19.71.184")["netbios_name"] == "ROSFHQ07WS004"


def challenge(version: bytes = bytes((10, 0)) + struct.pack("<H", 19041)) -> bytes:
    info = b"".join(struct.pack("<HH", av, len(v)) + v for av, v in (
        (2, "PLANT".encode("utf-16-le")), (1, "HIST01".encode("utf-16-le")),
        (3, "hist01.plant.local".encode("utf-16-le")), (4, "plant.local".encode("utf-16-le")))) + bytes(4)
    head = ntlm.SIGNATURE + struct.pack("<I", ntlm.CHALLENGE) + struct.pack("<HHI", 0, 0, 56)
    head += struct.pack("<I", 0x02000000) + bytes(8) + bytes(8) + struct.pack("<HHI", len(info), len(info), 56)
    return head + version + bytes(3) + b"\x0f" + info


def test_ntlm_challenges_name_the_server_and_its_windows_version():
    facts = ntlm.facts(b"\xa1\x81\xc0" + challenge())  # inside a SPNEGO token
    assert facts == [("netbios_domain", "PLANT"), ("netbios_name", "HIST01"), ("hostname", "hist01.plant.local"),
                     ("domain", "plant.local"), ("os", "Windows NT 10.0 build 19041")]
    assert ("os", "Windows NT 6.1 build 0") not in ntlm.facts(challenge(bytes((6, 1, 0, 0))))  # Samba
    assert ntlm.facts(b"no security blob") == []


def test_encrypted_and_other_traffic():
    session = Session()
    assert smb.decode(b"\x00\x00\x00\x08\xfdSMB" + bytes(4), True, session) == [] and session.done
    assert not smb.detect(b"\x00\x00\x00\x08GET / HT")
    assert isinstance(smb.decode(bytes(NBTSession() / SMB2_Header() / SMB2_Negotiate_Protocol_Request(Dialects=[0x0202])),
                                 True, Session())[0], Event)


def test_browser_announcements_flag_smb1_and_name_the_host(analyse):
    run = analyse("ndpi/netbios.pcap")
    announcements = [e for e in run.events if e["action"] == "host_announcement"]
    assert {(e["orig_h"], e["attrs"]["name"], e["attrs"]["smb1"]) for e in announcements} == {
        ("10.0.5.9", "NVR9", "true"), ("10.0.5.93", "BOWIE", "true")}
    assert (run.facts("10.0.5.9")["netbios_name"], run.facts("10.0.5.9")["os"]) == ("NVR9", "Windows NT 6.1")
    services = {(f["proto"], f["resp_p"]): f["service"] for f in run.flows if f["service"]}
    assert services == {("udp", 137): "netbios-ns", ("udp", 138): "netbios-dgm,smb",
                        ("tcp", 139): "netbios-ssn"}  # a session request alone is not SMB


def test_smb1_session_setup_names_the_servers_os():
    from scapy.layers.smb import SMBSession_Setup_AndX_Response

    reply = bytes(NBTSession() / SMB_Header(Flags=0x98, Flags2=0x0001) / SMBSession_Setup_AndX_Response(
        NativeOS="Windows 5.1", NativeLanMan="Windows 2000 LAN Manager"))
    facts = smb.decode(reply, False, Session())
    assert [(f.attribute, f.value) for f in facts] == [("os", "Windows 5.1"), ("software", "Windows 2000 LAN Manager")]
    pad = b"\xff\x00"  # the strings start at an odd offset: one pad byte aligns them
    assert smb._strings(pad + "Unix\x00Samba 4.9\x00".encode("utf-16-le"), 1, True, 2) == ["Unix", "Samba 4.9"]
