"""HTTP-style text messages, shared by HTTP/1.x, RTSP and SSDP: a start line, header lines, a body
(RFC 9112 §2, RFC 2326 §4).

``parse`` reads one message. ``framer`` makes the TCP frame function of such a protocol: a message
is its head plus a body of up to MAX_BODY bytes declared by Content-Length; a longer, chunked or
undeclared body, and anything else that does not start a message, passes as one opaque chunk that
the decoder may ignore. ``redact`` keeps URLs without their secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sensor.decode import defaults
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Session

MAX_HEAD = 16 * 1024  # a head longer than this is not a message head
MAX_BODY = 16 * 1024  # bodies framed with their head (SDP, SOAP); longer ones pass as opaque chunks
MAX_HEADERS = 100
MAX_VALUE = 512  # characters kept of a header value
MAX_URL = 1024

_METHOD = re.compile(rb"[A-Za-z][A-Za-z_-]{0,31}")  # GET, GET_PARAMETER, M-SEARCH …
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,9})[ \t]*\r", re.IGNORECASE)
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/?#@]*@", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"([?&;](?:user|username|usr|login|loginuse|pass|password|passwd|pwd|psw|loginpas|auth|token|"
    r"access_token|apikey|api_key|key|secret|sessionid)=)([^&;#]*)", re.IGNORECASE)


@dataclass(slots=True)
class Message:
    method: str  # "" in a response
    uri: str  # request target as sent (callers redact it before keeping it)
    status: int  # response status code, 0 in a request
    reason: str
    version: str  # e.g. "HTTP/1.1", "RTSP/1.0"
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


def parse(data: bytes, protocol: bytes) -> Message:
    """One message of a protocol whose version token starts with ``protocol`` (b"HTTP/", b"RTSP/")."""
    end = data.find(b"\r\n\r\n")
    head, body = (data, b"") if end < 0 else (data[:end], data[end + 4 :])
    if len(head) > MAX_HEAD:
        raise ValueError("message head too long")
    lines = head.split(b"\n")
    start = lines[0].rstrip(b"\r").split(b" ", 2)
    if start[0].startswith(protocol):  # status line: version, code, reason
        code = start[1]
        if not (len(code) == 3 and code.isdigit()):
            raise ValueError("bad status code")
        method, uri, status, version = "", "", int(code), start[0]
        reason = clean_text(start[2], MAX_VALUE) if len(start) > 2 else ""
    elif len(start) == 3 and start[2].startswith(protocol) and _METHOD.fullmatch(start[0]):
        method, uri, status, reason, version = start[0].decode("ascii"), clean_text(start[1], MAX_HEAD), 0, "", start[2]
    else:
        raise ValueError("not a start line")
    headers: dict[str, str] = {}
    for line in lines[1 : 1 + MAX_HEADERS]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[:1] in b" \t":
            continue  # not a header (or an obsolete folded continuation)
        key = name.strip().decode("latin-1").lower()
        text = clean_text(value, MAX_VALUE)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Message(method, uri, status, reason, version.decode("latin-1"), headers, body)


def framer(starts: Callable[[bytes], bool]) -> Callable[[bytes], int]:
    """The frame function of a protocol whose messages begin where ``starts(buf)`` says so."""

    def frame(buf: bytes) -> int:
        if not starts(buf):
            return len(buf)  # an opaque chunk: body bytes, binary data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise ValueError("no end of message head")
            return 0
        head = end + 4
        declared = _CONTENT_LENGTH.search(buf, 0, head)
        length = int(declared[1]) if declared else 0
        return head + length if length <= MAX_BODY else head

    return frame


def redact(url: str) -> tuple[str, bool]:
    """(URL without user:password@ and without the values of credential-like query parameters,
    whether it had any)."""
    clean, userinfo = _USERINFO.subn(r"\1", url)
    leaked = bool(userinfo)

    def mask(m: re.Match) -> str:
        nonlocal leaked
        leaked = leaked or bool(m[2])
        return m[1] + ("*" if m[2] else "")

    clean = _SECRET_PARAM.sub(mask, clean)
    return clean[:MAX_URL], leaked


def authorization(msg: Message, leaked: bool) -> dict[str, str]:
    """A request's authentication as event attributes: the scheme only, and ``cleartext_credentials``
    for Basic authorization or when the URL carried credentials (``leaked``)."""
    scheme = auth_scheme(msg.header("authorization"))
    attrs = {"auth_scheme": scheme}
    if leaked or scheme == "Basic":
        attrs["cleartext_credentials"] = "true"
    return attrs


MAX_DEFAULT_LOGINS = 16  # requests with default credentials awaiting their response, per flow


def note_default(msg: Message, event: Event, session: Session) -> None:
    """Remember the request ``event`` when its Authorization logs in with a vendor default."""
    logins = session.vars.setdefault("default_logins", [])
    if len(logins) < MAX_DEFAULT_LOGINS and defaults.authorization(msg.header("authorization"), msg.method):
        logins.append(event)


def confirm_default(event: Event, status: int, session: Session) -> None:
    """Flag ``default_credentials`` on the request ``event`` when it logged in with a vendor default
    and the server accepted it (a 2xx or 3xx answer)."""
    logins = session.vars.get("default_logins") or []
    for i, waiting in enumerate(logins):
        if waiting is event:
            del logins[i]
            if 200 <= status < 400:
                event.attrs["default_credentials"] = "true"
            return


def challenge(msg: Message) -> dict[str, str]:
    """A 401 response's challenge as event attributes: the scheme it asks for and its realm."""
    if msg.status != 401:
        return {}
    value = msg.header("www-authenticate")
    return {"auth_required": "true", "www_authenticate": auth_scheme(value), "realm": realm(value)}


def auth_scheme(value: str) -> str:
    """The scheme of an Authorization or WWW-Authenticate value ("Basic", "Digest" …), never its
    parameters."""
    scheme = value.split(None, 1)[0] if value.strip() else ""
    return scheme.capitalize() if scheme.isalpha() else ""


_REALM = re.compile(r'realm\s*=\s*"([^"]{0,128})"', re.IGNORECASE)


def realm(value: str) -> str:
    """The realm a WWW-Authenticate challenge names (cameras often put their model there)."""
    m = _REALM.search(value)
    return m[1] if m else ""
