"""The text-message helper shared by HTTP, RTSP and SSDP: parsing, TCP framing, URL redaction."""

from __future__ import annotations

import pytest

from sensor.decode import textproto

REQUEST = b"GET /a HTTP/1.1\r\nHost: cam\r\nX-A: 1\r\nx-a: 2\r\n\r\n"


def test_a_request_and_a_response_are_parsed():
    msg = textproto.parse(REQUEST, b"HTTP/")
    assert (msg.method, msg.uri, msg.version, msg.header("host"), msg.header("x-a")) == (
        "GET", "/a", "HTTP/1.1", "cam", "1, 2")
    reply = textproto.parse(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n\r\nbody", b"RTSP/")
    assert (reply.is_request, reply.status, reply.reason, reply.header("cseq"), reply.body) == (
        False, 401, "Unauthorized", "2", b"body")


@pytest.mark.parametrize("bad", [b"GET /a FTP/1.0\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"\x00\x01\x02", b""])
def test_what_is_not_a_message_is_malformed(bad):
    with pytest.raises((ValueError, IndexError)):
        textproto.parse(bad, b"HTTP/")


def test_framing_keeps_declared_bodies_and_passes_other_bytes_as_chunks():
    frame = textproto.framer(lambda buf: buf.startswith((b"GET ", b"POST ", b"HTTP/1.")))
    post = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    assert frame(post + REQUEST) == len(post)  # head + body, the next message follows
    assert frame(post[:-2]) == len(post)  # longer than the buffer: the stream waits for the body
    assert frame(REQUEST[:10]) == 0  # head incomplete
    assert frame(b"\x89PNG body bytes") == 15  # not a message start: one opaque chunk
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"
    assert frame(big + b"x" * 10) == len(big)  # a long body passes as chunks after the head
    with pytest.raises(ValueError):
        frame(b"GET /" + b"a" * textproto.MAX_HEAD + b" HTTP/1.1\r\n")


@pytest.mark.parametrize("url, clean, leaked", [
    ("rtsp://admin:12345@10.0.0.5:554/Streaming/Channels/101", "rtsp://10.0.0.5:554/Streaming/Channels/101", True),
    ("/cgi-bin/snapshot.cgi?chn=1&user=admin&pwd=secret", "/cgi-bin/snapshot.cgi?chn=1&user=*&pwd=*", True),
    ("/decoder_control.cgi?loginuse=admin&loginpas=x&command=1", "/decoder_control.cgi?loginuse=*&loginpas=*&command=1",
     True),
    ("/ISAPI/System/deviceInfo", "/ISAPI/System/deviceInfo", False),
    ("/search?keyword=password", "/search?keyword=password", False),
    ("/a?token=", "/a?token=", False),
])
def test_urls_are_kept_without_their_secrets(url, clean, leaked):
    assert textproto.redact(url) == (clean, leaked)


def test_only_the_scheme_of_an_authorization_is_kept():
    assert textproto.auth_scheme("Basic YWRtaW46MTIzNDU=") == "Basic"
    assert textproto.auth_scheme('digest username="admin", response="abc"') == "Digest"
    assert textproto.auth_scheme("") == textproto.auth_scheme("=== junk") == ""
    assert textproto.realm('Digest realm="DS-2CD2142FWD-I", nonce="x"') == "DS-2CD2142FWD-I"
