"""The explorer's pages (/flows, /events) on a simulated plant through the real ingest: filters from
the query, the count and timeline of the result, dangerous actions badged, pages that follow one
another, and CSV/Parquet downloads holding exactly the result in the page's order."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from coretest import PASSWORD, bearer, provision
from fastapi.testclient import TestClient
from pagetest import csrf_token, figure
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from dashboard.explorelinks import evidence_query
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import EPOCH, write_pcap

WINDOW = {"start": "2026-01-05T08:30", "end": "2026-01-05T09:30"}  # site time (JST) around EPOCH
API_WINDOW = {"start": "2026-01-04T23:30:00Z", "end": "2026-01-05T00:30:00Z"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A logged-in client of acme, whose sensor sent 20,000 simulated packets."""
    with TestClient(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("data")))), follow_redirects=False) as client:
        acme = provision(client.app, "acme")
        pcap = tmp_path_factory.mktemp("pcap") / "plant.pcap"
        write_pcap(pcap, packets=20_000, seed=3, start=EPOCH)
        for batch in iter_batches([pcap], 60.0, sensor="SN-acme", observer=Observer()):
            assert client.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch)).status == "stored"
        token = csrf_token(client.get("/login").text)
        client.post("/login", data={"csrf_token": token, "email": acme.email, "password": PASSWORD})
        yield client, acme


def api_rows(client, acme, kind: str, **query) -> list[dict]:
    rows, cursor = [], None
    while True:
        body = client.get(f"/api/v1/explore/{kind}", headers=bearer(acme.api_token),
                          params=API_WINDOW | {"limit": 500} | query | ({"cursor": cursor} if cursor else {})).json()
        rows += body["rows"]
        if not (cursor := body["next_cursor"]):
            return rows


def uids_shown(page: str) -> list[tuple[datetime, str]]:
    """(time, uid) of each row shown."""
    return [(datetime.fromisoformat(ts), uid)
            for ts, uid in re.findall(r'<tr data-ts="([^"]+)".*?<td class="mono muted uid">([^<]*)</td>', page, re.S)]


def keys(rows: list[dict]) -> list[tuple[datetime, str]]:
    return [(datetime.fromisoformat(r["ts"]), r["uid"]) for r in rows]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_flows_page_shows_the_result_its_count_and_timeline(site, lang):
    client, acme = site
    answer = client.get("/flows", params=WINDOW | {"lang": lang})
    assert answer.status_code == 200
    everything = api_rows(client, acme, "flows")
    count = int(re.search(r'data-count="(\d+)"', answer.text).group(1))
    assert count == len(everything) > 100
    assert uids_shown(answer.text) == keys(everything[:100])
    bars = figure(answer.text, "timeline")["data"][0]
    assert sum(bars["y"]) == count
    assert ("探索" if lang == "ja" else "Hunt") in answer.text


def test_a_device_link_narrows_to_the_device(site):
    client, acme = site
    page = client.get("/flows", params=WINDOW).text
    device = html.unescape(re.search(r'href="\?([^"]*device=[^"]*)"', page).group(1))
    narrowed = client.get("/flows?" + device)
    value = dict(p.split("=", 1) for p in device.split("&"))["device"].replace("%3A", ":")
    expected = api_rows(client, acme, "flows", device=value)
    assert 0 < len(expected) < len(api_rows(client, acme, "flows"))
    assert int(re.search(r'data-count="(\d+)"', narrowed.text).group(1)) == len(expected)


def test_pages_follow_one_another(site):
    client, acme = site
    first = client.get("/events", params=WINDOW | {"sort": "action"}).text
    following = html.unescape(re.search(r'id="next-page" href="([^"]+)"', first).group(1))
    second = client.get("/events" + following).text
    expected = keys(api_rows(client, acme, "events", sort="action"))
    assert uids_shown(first) + uids_shown(second) == expected[:len(uids_shown(first)) + len(uids_shown(second))]
    assert len(uids_shown(first)) == 100 and len(uids_shown(second)) > 0


def test_dangerous_actions_carry_a_badge(site):
    client, _ = site
    page = client.get("/events", params=WINDOW | {"protocol": "modbus", "lang": "en"}).text
    assert 'data-danger="write"' in page and "⚠ Write" in page


@pytest.mark.parametrize("kind", ["flows", "events"])
def test_downloads_hold_exactly_the_result_in_order(site, kind):
    client, acme = site
    query = WINDOW | {"sort": "-resp_p"}
    expected = api_rows(client, acme, kind, sort="-resp_p")
    text = client.get(f"/{kind}.csv", params=query).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["uid"], datetime.fromisoformat(r["ts"])) for r in table] == [
        (r["uid"], datetime.fromisoformat(r["ts"])) for r in expected]
    assert table[0]["ts"].endswith("+09:00")  # the site's zone, as shown
    parquet = pq.read_table(io.BytesIO(client.get(f"/{kind}.parquet", params=query).content)).to_pylist()
    assert [(r["uid"], r["ts"]) for r in parquet] == [(r["uid"], datetime.fromisoformat(r["ts"])) for r in expected]
    if kind == "events":
        assert [json.loads(r["attrs"]) for r in parquet] == [r["attrs"] for r in expected]


def test_a_bad_filter_gets_the_styled_422(site):
    client, _ = site
    answer = client.get("/events", params={"port": "99999", "lang": "en"})
    assert answer.status_code == 422 and "port" in answer.text and "<nav" in answer.text
    assert client.get("/flows.csv", params={"sort": "nope"}).status_code == 422


def test_an_alerts_evidence_link_opens_exactly_those_records(site):
    client, acme = site
    flows = api_rows(client, acme, "flows")
    evidence = [{"ts": datetime.fromisoformat(r["ts"]), "uid": r["uid"]} for r in flows[10:13]]
    page = client.get("/flows?" + evidence_query(evidence)).text
    uids = {e["uid"] for e in evidence}
    assert {uid for _, uid in uids_shown(page)} == uids
    assert int(re.search(r'data-count="(\d+)"', page).group(1)) == sum(r["uid"] in uids for r in flows)
    assert evidence_query([{"ts": evidence[0]["ts"], "uid": ""}]) == ""  # no uid: no link
