"""plotly.js for the dashboard's charts, from the installed plotly package (sites are closed
networks: no CDN). 4.8 MB as shipped, so it is served gzip-compressed (about a third; compressed
once, on first use) under a URL naming its version, cached by browsers for a year without
revalidating: a new plotly changes the URL."""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources
from pathlib import Path

from plotly.offline import get_plotlyjs_version

SOURCE = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
NAME = f"plotly-{get_plotlyjs_version()}.min.js"  # the URL's file name: ``/static/dashboard/<NAME>``
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPE = "text/javascript; charset=utf-8"


@cache
def plain() -> bytes:
    return SOURCE.read_bytes()


@cache
def gzipped() -> bytes:
    return gzip.compress(plain(), compresslevel=9, mtime=0)  # mtime 0: the same bytes every start


def accepts_gzip(accept_encoding: str) -> bool:
    """True if the ``Accept-Encoding`` header takes gzip (or ``*``) with a quality above zero."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            return not q or float(q.group(1)) > 0
    return False


def body(accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """The script for a client sending ``accept_encoding``, and the headers that go with it."""
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if accepts_gzip(accept_encoding):
        return gzipped(), headers | {"Content-Encoding": "gzip"}
    return plain(), headers
