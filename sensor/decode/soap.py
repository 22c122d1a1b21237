"""SOAP/XML envelopes as ONVIF (over HTTP) and WS-Discovery (over UDP) send them.

Only element texts are wanted, so the XML is scanned, not parsed: no entity expansion, no DTD, no
cost beyond one regular-expression pass per element asked for. Names are local names; namespace
prefixes are ignored.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import unquote

from sensor.decode.dns import clean_text

MAX_TEXT = 512
_BODY_CHILD = re.compile(rb"<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)")


@cache
def _element(name: str) -> re.Pattern:
    return re.compile(rb"<(?:[\w.-]+:)?" + name.encode() + rb"\b[^>]*>([^<]*)<", re.IGNORECASE)


def element(xml: bytes, name: str) -> str:
    """Text of the first element named ``name`` (any prefix), or ""."""
    m = _element(name).search(xml)
    return clean_text(unescape(m[1]), MAX_TEXT) if m else ""


def body_action(xml: bytes) -> str:
    """Local name of the first element in the SOAP Body: the operation, e.g. "GetDeviceInformation"."""
    m = _BODY_CHILD.search(xml)
    return m[1].decode("ascii", "replace") if m else ""


def unescape(text: bytes) -> bytes:
    """The five predefined XML entities (all SOAP text needs); numeric references stay as they are."""
    for entity, char in ((b"&lt;", b"<"), (b"&gt;", b">"), (b"&quot;", b'"'), (b"&apos;", b"'"), (b"&amp;", b"&")):
        text = text.replace(entity, char)
    return text


def words(text: str) -> list[str]:
    """A whitespace-separated list element (Types, Scopes, XAddrs), percent-decoded."""
    return [unquote(word) for word in text.split()]
