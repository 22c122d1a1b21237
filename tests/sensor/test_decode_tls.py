"""TLS decoder and fingerprints: Zeek's ssl.log fields, JA3/JA3S as Wireshark computes them, JA4
per the FoxIO specification's worked examples."""

from __future__ import annotations

import dataclasses

import pytest
from test_zeek_agreement import parse_conn_log

from sensor.decode import tls, tlsprint
from sensor.decode.spec import Session

ZEEK = {
    "zeek/Traces/tls/tls-conn-with-extensions.pcap": "zeek/Baseline/scripts.base.protocols.ssl.basic/ssl.log",
    "zeek/Traces/tls/tls1.2.pcap": "zeek/Baseline/scripts.base.protocols.ssl.tls-1.2/ssl.log",
}
# tshark 4.0 (tls.handshake.ja3 / ja3s) on the same traces
WIRESHARK_JA3 = {
    "zeek/Traces/tls/tls-conn-with-extensions.pcap": ("62351d5ea3cd4f21f697965b10a9bbbe",
                                                      "e07f21892995126f4b539c02215c8456"),
    "zeek/Traces/tls/tls1.2.pcap": ("bd9c99b3a0f752c3ab8b052a79e9de3e", "c253ec3ad88e42f8da4032682892f9a0"),
}


@pytest.mark.parametrize("trace", sorted(ZEEK))
def test_handshakes_match_zeek_and_wireshark(trace, analyse, corpus):
    [zeek] = parse_conn_log(corpus / ZEEK[trace])
    [event] = analyse(trace).events
    a = event["attrs"]
    ours = {"id.orig_h": event["orig_h"], "id.resp_p": str(event["resp_p"]), "version": event["status"],
            "cipher": a["cipher"], "curve": a.get("curve", "-"), "server_name": a.get("server_name", "-")}
    assert ours == {k: zeek[k] for k in ours}
    assert (a["ja3"], a["ja3s"]) == WIRESHARK_JA3[trace]


def test_the_client_fingerprint_and_server_name_become_facts(analyse):
    run = analyse("zeek/Traces/tls/tls-conn-with-extensions.pcap")
    assert run.facts("192.168.1.105")["ja4"] == run.events[0]["attrs"]["ja4"]
    assert run.facts("74.125.224.79")["tls_server_name"] == "ssl.gstatic.com"
    assert [f["service"] for f in run.flows] == ["ssl"]


def hexes(text: str) -> list[int]:
    return [int(v, 16) for v in text.split(",")]


SPEC = tlsprint.Hello(  # the JA4 specification's example ClientHello
    0x0303, ciphers=hexes("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
    extensions=hexes("001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"),
    signature_algorithms=hexes("0403,0804,0401,0503,0805,0501,0806,0601"), alpn=[b"h2"], versions=[0x0304, 0x0303])


def test_ja4_reproduces_the_specifications_examples():
    assert tlsprint.ja4(SPEC) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert tlsprint.ja4(dataclasses.replace(SPEC, signature_algorithms=[])) == "t13d1516h2_8daaf6152771_6d807ffa2a79"
    greased = dataclasses.replace(SPEC, ciphers=[0x0A0A, *SPEC.ciphers], extensions=[0xFAFA, *SPEC.extensions, 0x1A1A],
                                  signature_algorithms=[0x2A2A, *SPEC.signature_algorithms], versions=[0x3A3A, 0x0304])
    assert tlsprint.ja4(greased) == tlsprint.ja4(SPEC) and tlsprint.ja3(greased) == tlsprint.ja3(SPEC)
    bare = tlsprint.Hello(0x0301)
    assert tlsprint.ja4(bare) == "t10i000000_000000000000_000000000000"


@pytest.mark.parametrize("alpn, chars", [
    (b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"", "00"),  # the specification's rules and examples
    (b"\xab", "ab"), (b"\xab\xcd", "ad"), (b"\x30\xab", "3b"), (b"\x30\x31\xab\xcd", "3d"), (b"\x30\xab\xcd\x31", "01"),
])
def test_ja4_alpn_characters(alpn, chars):
    assert tlsprint.ja4(dataclasses.replace(SPEC, alpn=[alpn]))[8:10] == chars


def test_ja3_strings_follow_the_salesforce_definition():
    hello = tlsprint.Hello(771, ciphers=[0x1301, 0xC02B], extensions=[0, 10, 11], groups=[29, 23],
                           point_formats=[0])
    import hashlib

    assert tlsprint.ja3(hello) == hashlib.md5(b"771,4865-49195,0-10-11,29-23,0").hexdigest()
    assert tlsprint.is_grease(0xDADA) and not tlsprint.is_grease(0x0A1A)


def test_a_tls13_server_hello_ends_decoding_and_alerts_are_named():
    session = Session()
    hello = bytes.fromhex("0303") + bytes(32) + b"\x00" + bytes.fromhex("1301") + b"\x00"
    extensions = bytes.fromhex("002b00020304") + bytes.fromhex("0033002400170020") + bytes(0x20)
    body = hello + len(extensions).to_bytes(2, "big") + extensions
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message
    assert tls.frame(record + b"\x17\x03\x03\x00\x01x") == len(record)
    [event] = tls.decode(record, False, session)
    assert (event.status, event.attrs["cipher"], event.attrs["curve"], session.done) == (
        "TLSv13", "TLS_AES_128_GCM_SHA256", "secp256r1", True)
    tls.decode(b"\x15\x03\x03\x00\x02\x02\x28", False, session)
    assert event.attrs["last_alert"] == "handshake_failure"
    with pytest.raises(ValueError):
        tls.frame(b"GET / HTTP/1.1\r\n")


def test_cipher_names_are_scapys_table():
    """The sensor names ciphers from its own copy of Scapy's IANA table (importing Scapy's TLS stack
    cost a quarter of a second of every run that saw a ServerHello): the copy must stay Scapy's."""
    from scapy.layers.tls.crypto.suites import _tls_cipher_suites

    assert tls.cipher_names() == _tls_cipher_suites
    assert (tls.cipher_name(0x1301), tls.cipher_name(0xC02F), tls.cipher_name(0xFFFE)) == (
        "TLS_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "0xfffe")
