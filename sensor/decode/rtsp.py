"""RTSP 1.0 (RFC 2326), the camera control protocol: one event per request (method, URL, CSeq),
answered by the response with the same CSeq (status, Server, the authentication scheme a 401
challenge asks for).

The client's User-Agent and the server's Server header become software facts (and a Server banner
of a known shape vendor, model or firmware facts: ``sensor.decode.identity``); a DESCRIBE answer's
SDP names the codecs. Credentials are flagged, never kept: Basic authorization or a
user:password@ URL set ``cleartext_credentials``, any other scheme is named only. Media
interleaved on the connection ($-framed RTP) is sampled like an RTP flow (``sensor.decode.rtp``);
when the sample is complete the flow is done: what follows is bulk video.
"""

from __future__ import annotations

import re

from sensor.decode import identity, rtp, textproto
from sensor.decode.spec import Event, Fact, Protocol, Session

_METHODS = rb"(?:OPTIONS|DESCRIBE|SETUP|PLAY|PAUSE|TEARDOWN|GET_PARAMETER|SET_PARAMETER|ANNOUNCE|RECORD|REDIRECT)"
_START = re.compile(_METHODS + rb" |RTSP/1\.0 ")
_REQUEST_LINE = re.compile(_METHODS + rb" [^\s]+ RTSP/1\.0\r?\n")
_STATUS_LINE = re.compile(rb"RTSP/1\.0 [1-5]\d\d[ \r]")
_RTPMAP = re.compile(rb"^a=rtpmap:(\d{1,3}) ([\w.-]{1,32})/(\d{1,6})", re.MULTILINE)
CONF_SOFTWARE = 60
_head_frame = textproto.framer(lambda buf: _START.match(buf) is not None)


def detect(payload: bytes) -> bool:
    return _REQUEST_LINE.match(payload) is not None or _STATUS_LINE.match(payload) is not None


def frame(buf: bytes) -> int:
    if buf[:1] == b"$":  # interleaved binary data: $, channel, 16-bit length
        return 4 + int.from_bytes(buf[2:4], "big") if len(buf) >= 4 else 0
    return _head_frame(buf)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    if pdu[:1] == b"$":
        event = rtp.sample(pdu[4:], session, key=f"rtp{pdu[1]}")  # one stream per channel
        return [event] if event is not None else []
    if _START.match(pdu) is None:
        return []  # a body beyond the framing limit, or bytes after a gap
    msg = textproto.parse(pdu, b"RTSP/")
    session.services.add("rtsp")
    return _request(msg, session) if msg.is_request else _response(msg, session)


def _request(msg: textproto.Message, session: Session) -> list[Event | Fact]:
    url, leaked = textproto.redact(msg.uri)
    agent = msg.header("user-agent")
    attrs = {"url": url, "cseq": msg.header("cseq"), "user_agent": agent, "transport": msg.header("transport"),
             **textproto.authorization(msg, leaked)}
    event = session.ask(msg.header("cseq"), Event(msg.method, attrs=attrs))
    textproto.note_default(msg, event, session)
    out: list[Event | Fact] = [event]
    if agent:
        out.append(Fact("client_software", agent, confidence=CONF_SOFTWARE))
    return out


def _response(msg: textproto.Message, session: Session) -> list[Event | Fact]:
    out: list[Event | Fact] = []
    event = session.answer(msg.header("cseq"))
    if event is None:  # request not seen in this interval
        event = Event("-", attrs={"cseq": msg.header("cseq")})
        out.append(event)
    server = msg.header("server")
    event.status = str(msg.status)
    textproto.confirm_default(event, msg.status, session)
    event.attrs.update(server=server, **textproto.challenge(msg))
    rtpmap = {int(pt): (name.decode(), int(clock)) for pt, name, clock in _RTPMAP.findall(msg.body)}
    if rtpmap:
        session.vars["rtpmap"] = rtpmap  # names the codecs of interleaved media
        event.attrs["codecs"] = ",".join(sorted({name for name, _ in rtpmap.values()}))
    if server:
        out += [Fact("software", server, confidence=CONF_SOFTWARE), *identity.banner_facts("server", server)]
    return out


PROTOCOL = Protocol("rtsp", frozenset({"tcp"}), frozenset({554, 8554}), detect, decode, frame)
