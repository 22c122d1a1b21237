"""FTP decoder: commands and replies as in Zeek's ftp.log; logins flagged, credentials never kept."""

from __future__ import annotations

from sensor.decode import ftp
from sensor.decode.spec import Session

TRACE = "zeek/Traces/ftp/ipv4.pcap"


def test_commands_and_replies(analyse):
    run = analyse(TRACE, interval=float("inf"))  # one interval, as Zeek sees the whole connection
    events = [(e["action"], e["status"]) for e in run.events]
    assert events[:4] == [("USER", "331"), ("PASS", "230"), ("SYST", "215"), ("PASV", "227")]
    # Zeek's ftp.log rows: PASV 227 (twice), RETR 226 (twice), PORT 200 (twice)
    assert [s for a, s in events if a in ("PASV", "RETR", "PORT")] == ["227", "227", "226", "200", "200", "226"]
    user, password = run.events[0], run.events[1]
    assert user["attrs"] == {"anonymous": "true", "rtt": user["attrs"]["rtt"], "reply_msg": user["attrs"]["reply_msg"]}
    assert password["attrs"]["cleartext_credentials"] == "true"
    shown = str(run.events) + str(run.observations)
    assert "PASS test" not in shown and "'test'" not in shown
    assert run.facts("199.233.217.249")["software"] == "ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready."


def test_lines_and_multi_line_replies():
    session = Session()
    [user] = ftp.decode(b"USER plc-admin\r\n", True, session)
    assert user.attrs == {"anonymous": "false"}
    assert ftp.decode(b"331-Password\r\n please\r\n331 now\r\n", False, session) == []
    assert user.status == "331"
    assert ftp.frame(b"USER a\r\nPAS") == 8 and ftp.frame(b"PAS") == 0
    assert ftp.detect(b"220 (vsFTPd 3.0.3)\r\n") and ftp.detect(b"220-Microsoft FTP Service\r\n")
    assert not ftp.detect(b"220 mail.example.com ESMTP Postfix\r\n") and not ftp.detect(b"+OK POP3 ready\r\n")
    [auth] = ftp.decode(b"AUTH TLS\r\n", True, session)
    ftp.decode(b"234 AUTH TLS successful\r\n", False, session)
    assert auth.status == "234" and session.done


def _login(user: bytes, password: bytes, reply: bytes):
    session = Session()
    ftp.decode(b"USER " + user + b"\r\n", True, session)
    ftp.decode(b"331 Password required\r\n", False, session)
    [event] = ftp.decode(b"PASS " + password + b"\r\n", True, session)
    ftp.decode(reply, False, session)
    return event


def test_a_vendor_default_login_that_succeeds_is_flagged():
    event = _login(b"sysdiag", b"factorycast@schneider", b"230 User logged in\r\n")
    assert event.attrs["default_credentials"] == "true" and "factorycast" not in str(event.attrs)
    assert "default_credentials" not in _login(b"sysdiag", b"factorycast@schneider", b"530 Login incorrect\r\n").attrs
    assert "default_credentials" not in _login(b"sysdiag", b"other", b"230 User logged in\r\n").attrs
    assert "default_credentials" not in _login(b"anonymous", b"guest@", b"230 Guest login ok\r\n").attrs
