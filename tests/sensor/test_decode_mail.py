"""POP3, IMAP and SMTP: logins in clear flagged (and vendor defaults that succeed), what was typed
never kept; STARTTLS/STLS ends decoding; detection from greetings."""

from __future__ import annotations

import base64

from sensor.decode import ftp, imap, pop3, smtp
from sensor.decode.spec import Session


def converse(module, *turns: tuple[bool, bytes]):
    session, items = Session(), []
    for is_orig, data in turns:
        items += module.decode(data, is_orig, session)
    return items, session


def test_pop3_user_pass_in_clear_and_a_default_that_logs_in():
    greeting = (False, b"+OK POP3 server ready\r\n")
    [user, password], _ = converse(pop3, greeting, (True, b"USER admin\r\n"), (False, b"+OK\r\n"),
                                   (True, b"PASS admin\r\n"), (False, b"+OK maildrop has 2 messages\r\n"))
    assert (user.status, password.status) == ("OK", "OK")
    assert password.attrs == {"cleartext_credentials": "true", "default_credentials": "true"}
    [_, refused], _ = converse(pop3, greeting, (True, b"USER admin\r\n"), (False, b"+OK\r\n"),
                               (True, b"PASS admin\r\n"), (False, b"-ERR invalid password\r\n"))
    assert refused.status == "ERR" and "default_credentials" not in refused.attrs
    [stls], session = converse(pop3, greeting, (True, b"STLS\r\n"), (False, b"+OK begin TLS\r\n"))
    assert stls.status == "OK" and session.done and "admin" not in str(user.attrs)


def test_imap_login_and_authenticate():
    greeting = (False, b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
    [login], _ = converse(imap, greeting, (True, b'a1 LOGIN "guest" "guest"\r\n'),
                          (False, b"* CAPABILITY IMAP4rev1\r\na1 OK LOGIN completed\r\n"))
    assert (login.action, login.status) == ("LOGIN", "OK")
    assert login.attrs == {"cleartext_credentials": "true", "default_credentials": "true", "rtt": login.attrs["rtt"]}
    [own], _ = converse(imap, greeting, (True, b"a1 LOGIN ops S3cr3t-77\r\n"), (False, b"a1 OK done\r\n"))
    assert own.attrs["cleartext_credentials"] == "true" and "default_credentials" not in own.attrs
    [auth], _ = converse(imap, greeting, (True, b"a2 AUTHENTICATE PLAIN\r\n"), (False, b"+ \r\n"),
                         (True, base64.b64encode(b"\0ops\0x") + b"\r\n"), (False, b"a2 NO failed\r\n"))
    assert (auth.status, auth.attrs["mechanism"]) == ("NO", "PLAIN") and auth.attrs["cleartext_credentials"]
    assert imap.detect(b"* OK IMAP4rev1 ready\r\n") and not imap.detect(b"+OK POP3\r\n")


def test_smtp_auth_plain_and_login():
    plain = base64.b64encode(b"\0admin\0password")
    [auth], _ = converse(smtp, (False, b"220 mail.plant.local ESMTP Postfix\r\n"), (True, b"EHLO hmi\r\n"),
                         (False, b"250-mail\r\n250 AUTH PLAIN LOGIN\r\n"), (True, b"AUTH PLAIN " + plain + b"\r\n"),
                         (False, b"235 2.7.0 Authentication successful\r\n"))
    assert (auth.status, auth.attrs) == ("235", {"mechanism": "PLAIN", "cleartext_credentials": "true",
                                                 "default_credentials": "true"})
    login = [(True, b"AUTH LOGIN\r\n"), (False, b"334 VXNlcm5hbWU6\r\n"), (True, base64.b64encode(b"ops") + b"\r\n"),
             (False, b"334 UGFzc3dvcmQ6\r\n"), (True, base64.b64encode(b"S3cr3t-77") + b"\r\n"),
             (False, b"535 5.7.8 failed\r\n")]
    [auth], _ = converse(smtp, *login)
    assert auth.status == "535" and "default_credentials" not in auth.attrs and "ops" not in str(auth.attrs)
    [tls], session = converse(smtp, (True, b"STARTTLS\r\n"), (False, b"220 2.0.0 Ready to start TLS\r\n"))
    assert tls.status == "220" and session.done


def test_detection_tells_mail_from_ftp():
    assert smtp.detect(b"220 mx.example.com ESMTP Exim 4.96\r\n") and not ftp.detect(b"220 mx ESMTP Postfix\r\n")
    assert pop3.detect(b"+OK Dovecot ready.\r\n") and not smtp.detect(b"220 (vsFTPd 3.0.3)\r\n")
