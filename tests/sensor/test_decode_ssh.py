"""SSH decoder: banners and negotiated algorithms as in Zeek's ssh.log, HASSH, OS from banners."""

from __future__ import annotations

import hashlib

from test_zeek_agreement import parse_conn_log

from sensor.decode import ssh
from sensor.decode.spec import Session

TRACE = "zeek/Traces/ssh/ssh_kex_curve25519.pcap"
FIELDS = ("client", "server", "cipher_alg", "mac_alg", "compression_alg", "kex_alg", "host_key_alg")


def test_the_handshake_matches_zeeks_ssh_log(analyse, corpus):
    [zeek] = parse_conn_log(corpus / "zeek/Baseline/scripts.base.protocols.ssh.curve25519_kex/ssh.log")
    run = analyse(TRACE)
    [event] = run.events
    assert {k: event["attrs"][k] for k in FIELDS} == {k: zeek[k] for k in FIELDS}
    assert event["attrs"]["version"] == zeek["version"] == "2"
    assert run.facts("192.168.1.100")["client_software"] == "OpenSSH_7.4" and run.facts("192.168.1.32")["software"] == \
        "OpenSSH_7.5"


def kexinit(kex: str, cipher: str, mac: str, compression: str = "none") -> bytes:
    lists = [kex, "ssh-ed25519", cipher, cipher, mac, mac, compression, compression, "", ""]
    payload = bytes([ssh.KEXINIT]) + bytes(16) + b"".join(len(x).to_bytes(4, "big") + x.encode() for x in lists)
    payload += b"\x00" + bytes(4)
    padding = 8 - (len(payload) + 5) % 8 + 4
    return (len(payload) + padding + 1).to_bytes(4, "big") + bytes([padding]) + payload + bytes(padding)


def test_hassh_and_the_end_of_decoding():
    session = Session()
    [event, fact, os_fact] = ssh.decode(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n", False, session)
    assert (fact.value, os_fact.value) == ("OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", "Ubuntu")
    client = kexinit("curve25519-sha256,ext-info-c", "aes128-ctr,aes256-ctr", "hmac-sha2-256")
    server = kexinit("curve25519-sha256", "aes256-ctr,aes128-ctr", "hmac-sha2-256")
    assert ssh.frame(client + server) == len(client)
    ssh.decode(client, True, session)
    assert not session.done
    ssh.decode(server, False, session)
    expected = hashlib.md5(b"curve25519-sha256,ext-info-c;aes128-ctr,aes256-ctr;hmac-sha2-256;none").hexdigest()
    assert (event.attrs["hassh"], event.attrs["cipher_alg"], session.done) == (expected, "aes128-ctr", True)
    assert ssh.detect(b"SSH-1.99-Cisco-1.25\r\n") and not ssh.detect(b"SSH is great\r\n")
