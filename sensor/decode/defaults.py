"""Vendor default logins (``data/default_credentials.csv``): decoders that see a user name and a
password check them here and send only the verdict (``default_credentials``), never the values.

HTTP and RTSP authorization is checked as a whole: Basic by its decoded pair, Digest (MD5, RFC 2617
and 7616) by recomputing the response for each default password of its user name.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import re
from collections import defaultdict
from functools import cache

from sensor.decode.tables import data_file

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@cache
def passwords() -> dict[str, frozenset[str]]:
    """User name → its default passwords."""
    table: dict[str, set[str]] = defaultdict(set)
    with data_file("default_credentials.csv") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            table[row["user"]].add(row["password"])
    return {user: frozenset(pw) for user, pw in table.items()}


def is_default(user: str, password: str) -> bool:
    return password in passwords().get(user, ())


def authorization(value: str, method: str) -> bool:
    """Whether an Authorization header value logs in with a vendor default."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(rest.strip(), validate=True).decode("latin-1").partition(":")
        except (binascii.Error, ValueError):
            return False
        return bool(sep) and is_default(user, password)
    if scheme.lower() == "digest":
        return _digest({key.lower(): quoted or bare for key, quoted, bare in _PARAM.findall(rest)}, method)
    return False


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("latin-1")).hexdigest()  # noqa: S324 - the protocol's own hash


def _digest(p: dict[str, str], method: str) -> bool:
    user, response = p.get("username", ""), p.get("response", "").lower()
    if p.get("algorithm", "MD5").upper() != "MD5" or not response:
        return False
    ha2 = _md5(f"{method}:{p.get('uri', '')}")
    for password in passwords().get(user, ()):
        ha1 = _md5(f"{user}:{p.get('realm', '')}:{password}")
        if p.get("qop"):
            expected = _md5(f"{ha1}:{p.get('nonce', '')}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{p.get('nonce', '')}:{ha2}")
        if expected == response:
            return True
    return False
