"""Issue 14 item 12: plotly.js (4.8 MB) goes over the wire gzip-compressed when the browser takes it,
plain when not, under a versioned URL that browsers cache for a year; the pages name that URL."""

from __future__ import annotations

import gzip

import httpx
import pytest
from coretest import PASSWORD, LiveServer, provision
from plotly.offline import get_plotlyjs_version
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from dashboard import plotlyjs

URL = f"/static/dashboard/plotly-{get_plotlyjs_version()}.min.js"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("plotlyjs"))))) as server:
        server.acme = provision(server.app, "acme")
        yield server


def _raw(live, accept_encoding: str) -> tuple[httpx.Response, bytes]:
    """The response and its bytes as they crossed the wire (not decoded)."""
    with httpx.Client(base_url=live.url) as client, client.stream(
            "GET", URL, headers={"Accept-Encoding": accept_encoding}) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("accept", ["gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "*"])
def test_compressed_when_the_browser_takes_gzip(live, accept):
    r, wire = _raw(live, accept)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) == len(wire) < plotlyjs.SOURCE.stat().st_size / 3
    assert gzip.decompress(wire) == plotlyjs.SOURCE.read_bytes()


@pytest.mark.parametrize("accept", ["identity", "", "br", "gzip;q=0"])
def test_plain_when_it_does_not(live, accept):
    r, wire = _raw(live, accept)
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert wire == plotlyjs.SOURCE.read_bytes()


def test_cached_for_a_year_without_revalidating(live):
    r, _ = _raw(live, "gzip")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["vary"] == "Accept-Encoding" and r.headers["content-type"].startswith("text/javascript")


def test_pages_name_the_versioned_url_and_the_old_name_leads_there(live):
    with httpx.Client(base_url=live.url) as client:
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        overview = client.post("/login", data={"csrf_token": token, "email": live.acme.email,
                                               "password": PASSWORD}, follow_redirects=True)
        assert overview.url.path == "/" and f'<script src="{URL}"></script>' in overview.text
        old = client.get("/static/dashboard/plotly.min.js")
        assert old.status_code == 308 and old.headers["location"] == URL
