"""Telnet decoder: clear-text logins flagged, what was typed never kept."""

from __future__ import annotations

from sensor.decode import telnet
from sensor.decode.spec import Session


def converse(*turns: tuple[bool, bytes]) -> tuple[list, Session]:
    session, events = Session(), []
    for is_orig, data in turns:
        events += telnet.decode(data, is_orig, session)
    return events, session


def test_a_login_with_a_password_is_flagged():
    [event], _ = converse((False, b"\xff\xfd\x18\xff\xfd\x20"), (True, b"\xff\xfc\x18"),
                          (False, b"\r\nBusyBox v1.19.4 built-in shell\r\nDVR login: "), (True, b"root\r\n"),
                          (False, b"Password: "), (True, b"xmhdipc\r\n"), (False, b"\r\nLogin incorrect\r\nDVR login: "))
    assert (event.action, event.status) == ("login", "failure")
    assert event.attrs == {"banner": "BusyBox v1.19.4 built-in shell", "cleartext_credentials": "true"}
    assert "xmhdipc" not in str(event.attrs) and "root" not in str(event.attrs)


def test_a_prompt_without_credentials_is_not_flagged():
    [event], _ = converse((False, b"Username: "), (True, b"\xff\xfb\x18"))
    assert "cleartext_credentials" not in event.attrs


def test_options_are_stripped_and_detection(analyse):
    assert telnet.text(b"a\xff\xff\xff\xfb\x01b\xff\xfa\x18\x00xterm\xff\xf0c") == b"a\xffbc"
    assert telnet.detect(b"\xff\xfd\x01") and telnet.detect(b"\r\nlogin: ") and not telnet.detect(b"GET / HTTP/1.1\r\n")
    run = analyse("zeek/Traces/telnet-auth-missing-name.pcap")  # an auth option without a name, on port 21
    assert [f["service"] for f in run.flows] == ["telnet"] and not run.errors


def test_a_default_login_that_succeeds_is_flagged_without_what_was_typed():
    # typed a key at a time (the server echoes the name, not the password), then as whole lines
    keys = [(True, bytes([c])) for c in b"admin"] + [(True, b"\r\n")]
    for typing in (keys, [(True, b"admin\r\n")]):
        [event], _ = converse((False, b"\r\nlogin: "), *typing, (False, b"Password: "), (True, b"admin\r\n"),
                              (False, b"\r\nWelcome\r\n> "))
        assert event.attrs["default_credentials"] == "true" and event.status == ""
        assert "admin" not in str(event.attrs)


def test_a_default_password_rejected_or_another_password_is_not_flagged():
    for password, answer in ((b"admin\r\n", b"\r\nLogin incorrect\r\nlogin: "), (b"s3cret!\r\n", b"\r\n> ")):
        [event], _ = converse((False, b"login: "), (True, b"admin\r\n"), (False, b"Password: "), (True, password),
                              (False, answer))
        assert "default_credentials" not in event.attrs
