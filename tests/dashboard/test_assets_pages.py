"""The asset ledger pages over TestClient with real chDB: list, filter, sort, CSV, detail,
the annotation form (CSRF, validation, audit, persistence) and tenant isolation."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import timedelta

import lxml.html
import pytest
from coretest import T0, make_batch, post_batch
from pagetest import csrf_token, figure, plant_batch

from core.analytics.assets import CSV_COLUMNS
from core.export.csvsafe import neutral
from core.store.controlplane import AuditLog
from dashboard.i18n import MESSAGES, translator
from sensor import wire

JA, EN = MESSAGES["ja"], MESSAGES["en"]
PLC = "00:1b:1b:00:00:02"  # acme's 10.1.0.2, serving Modbus to 10.1.0.1 (an HMI) and HTTP to 10.1.0.3


def ledger_batch(start=T0 + timedelta(minutes=1)) -> bytes:
    """Modbus events from the HMI to the PLC (twelve polls folded into one row, then a write), and
    the PLC's vendor from a second, weaker source."""
    events = [
        dict(ts=start + timedelta(seconds=i), ts_end=start + timedelta(seconds=i), count=count, uid="C1",
             orig_h="10.1.0.1", resp_h="10.1.0.2", resp_p=502, protocol="modbus", action=action, status="ok",
             attrs={"unit": "1", "address": "40001"})
        for i, (action, count) in enumerate((("read_holding_registers", 12), ("write_single_register", 1)))
    ]
    oui = dict(ts=start, mac=PLC, ip="10.1.0.2", attribute="vendor", value="Siemens AG", source="oui",
               confidence=70)
    return wire.encode(make_batch(flows=[], events=events, observations=[oui], start=start))


@pytest.fixture
def plant(client, acme):
    """acme with events and a second vendor source too."""
    assert post_batch(client, acme.sensor_token, ledger_batch()).status_code == 200
    return acme


def devices(html: str) -> list[str]:
    return re.findall(r'<tr class="linked[^"]*" data-device="([^"]+)"', html)


def row(html: str, device: str) -> str:
    return re.search(rf'<tr class="linked[^"]*" data-device="{device}">.*?</tr>', html, re.DOTALL).group(0)


def annotate(client, device: str, token: str | None = None, **fields) -> object:
    """POST the annotation form of ``device`` with the token from its page unless given one."""
    if token is None:
        token = csrf_token(client.get(f"/assets/{device}").text)
    return client.post(f"/assets/{device}/annotation", data={"csrf_token": token, **fields})


@pytest.mark.parametrize("path", ["/assets", "/assets.csv", f"/assets/{PLC}"])
def test_asset_pages_need_a_session(client, path):
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_list_shows_every_device_with_role_links_and_tokyo_times(client, plant, login):
    login(plant)
    html = client.get("/assets").text
    assert devices(html) == ["10.1.0.1", PLC, "10.1.0.3"]  # IP order by default
    assert re.search(r'<a href="/assets" class="active" aria-current="page">', html)  # nav state
    assert translator("ja").tn("asset_total", 3) in html
    plc = row(html, PLC)
    assert f'href="/assets/{PLC}"' in plc and ">10.1.0.2</a>" in plc
    assert f'<span class="badge role-plc">{JA["role_plc"]}</span>' in plc
    for text in ("Siemens", "plc-10.1.0", '<span class="chip served">modbus</span>', JA["auth_unknown"],
                 '<span class="date">2024-05-01</span> <span class="clock">21:00</span>'):  # 12:00 UTC
        assert text in plc, text
    assert f'<span class="badge role-hmi">{JA["role_hmi"]}</span>' in row(html, "10.1.0.1")
    assert 'href="/assets/10.1.0.3"' in client.get("/").text  # the overview's asset rows link here too


def test_filter_and_sort_are_done_by_the_server(client, plant, login):
    login(plant)
    assert devices(client.get("/assets?q=SIEMENS").text) == [PLC]
    assert devices(client.get("/assets?role=hmi").text) == ["10.1.0.1"]
    html = client.get("/assets?q=nothing-like-this").text
    assert devices(html) == [] and JA["no_matches"] in html

    html = client.get("/assets?sort=ip&order=desc&q=10.1").text
    assert devices(html) == ["10.1.0.3", PLC, "10.1.0.1"]
    active = re.search(r'<th aria-sort="descending" class="sorted"><a href="([^"]+)" data-sort="ip">.*?▼', html)
    assert active and "order=asc" in active.group(1) and "q=10.1" in active.group(1)  # flips, keeps the filter
    assert re.search(r'href="[^"]*sort=vendor&amp;order=asc[^"]*" data-sort="vendor"', html)
    assert 'name="sort" value="ip"' in html and 'name="order" value="desc"' in html  # the filter keeps the sort
    assert devices(client.get("/assets?sort=role").text) == ["10.1.0.1", PLC, "10.1.0.3"]  # hmi, plc, none last
    assert devices(client.get("/assets?sort=bogus&order=sideways").text)[0] == "10.1.0.1"


def table(html: str) -> list[list[str]]:
    """The ledger table as a reader sees it: header, then each row's cells, their texts space-joined."""
    doc = lxml.html.fromstring(html)
    header = [" ".join(th.text_content().split()).strip(" ▲▼↕") for th in doc.xpath('//table//thead//th')]
    rows = [[" ".join(t.strip() for t in td.itertext() if t.strip()) for td in tr.xpath("./td")]
            for tr in doc.xpath('//table//tbody/tr')]
    return [header, *rows]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_csv_download_is_the_page_as_shown(client, plant, login, lang):
    """The page's columns and cell texts, labels in the page's language, times in JST: not the API's keys."""
    login(plant)
    annotate(client, PLC, authorized="unauthorized", importance="high", tags="line-1, =cmd")
    query = f"q=&role=&sort=ip&order=desc&range=all&lang={lang}"
    r = client.get(f"/assets.csv?{query}&encoding=excel")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="assets.csv"'
    shown = table(client.get(f"/assets?{query}").text)
    downloaded = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    # The one difference: a cell a spreadsheet would run as a formula starts with a quote.
    assert "'=cmd line-1" in {c for row in downloaded for c in row}
    assert downloaded == [[neutral(c) for c in row] for row in shown]
    plc = dict(zip(downloaded[0], next(row for row in downloaded if row[1] == PLC), strict=True))
    t = translator(lang)
    assert plc[t("role")] == t("role_plc") and plc[t("authorization")] == t("auth_unauthorized")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", plc[t("first_seen")])  # the page's format, in JST
    api = client.get("/api/v1/assets.csv", headers={"Authorization": f"Bearer {plant.api_token}"})
    assert api.content[:3] != codecs.BOM_UTF8 and tuple(next(csv.reader(io.StringIO(api.text)))) == CSV_COLUMNS
    assert ",plc," in api.text and ",unknown," in api.text and "12:00:00+00:00" in api.text  # keys, UTC times


def test_csv_has_a_bom_only_when_excel_is_chosen(client, plant, login):
    login(plant)
    html = client.get("/assets?lang=ja").text
    links = dict(re.findall(r'id="csv-(\w+)" href="([^"]+)" download>', html))
    assert set(links) == {"excel", "utf8"} and all("encoding=" in href for href in links.values())
    excel, plain = (client.get(links[k].replace("&amp;", "&")) for k in ("excel", "utf8"))
    assert excel.content.startswith(codecs.BOM_UTF8) and not plain.content.startswith(codecs.BOM_UTF8)
    assert excel.content[3:] == plain.content
    assert excel.content.decode("utf-8-sig") == plain.content.decode("utf-8")
    assert MESSAGES["ja"]["role_plc"] in plain.text and MESSAGES["ja"]["first_seen"] in excel.content.decode("utf-8-sig")
    assert client.get("/assets.csv?encoding=latin1").status_code == 422


def test_detail_shows_attributes_by_source_peers_and_events(client, plant, login):
    login(plant)
    html = client.get(f"/assets/{PLC}").text
    assert "<span class=\"mono\">10.1.0.2</span>" in html and "plc-10.1.0" in html
    assert JA["role_source"].format(source=JA["role_inferred"]) in html
    vendor = re.search(r'<tbody class="group" data-attribute="vendor">(.*?)</tbody>', html, re.DOTALL).group(1)
    assert re.findall(r"<td>([^<]+)</td><td class=\"source\"><span class=\"chip\">(\w+)</span></td>", vendor) == [
        ("Siemens", "dhcp"), ("Siemens AG", "oui")]  # every source, the most confident first
    peers = re.search(r'<section class="card" id="peers">.*?</section>', html, re.DOTALL).group(0)
    assert "10.1.0.1" in peers and "10.1.0.3" in peers and "modbus/tcp:502" in peers
    assert JA["direction_in"] in peers
    events = re.search(r'<section class="card" id="events">.*?</section>', html, re.DOTALL).group(0)
    assert events.index("write_single_register") < events.index("read_holding_registers")  # newest first
    assert "2024-05-01 21:01:01" in events and f"<span>{JA['detail_address']}</span>40001" in events
    assert events.count("×") == 1 and "×12" in events  # the folded polls, counted
    timeline = figure(html, "timeline")["data"]
    assert [trace["name"] for trace in timeline] == ["modbus"]
    assert timeline[0]["y"] == [f"modbus · {JA[f'fn_{action}']}"
                                for action in ("write_single_register", "read_holding_registers")]
    assert timeline[0]["x"][0].startswith("2024-05-01T21:01:01")  # Tokyo time
    assert EN["attributes"] in client.get(f"/assets/{PLC}?lang=en").text


def test_annotation_needs_a_valid_csrf_token(client, plant, login):
    stale = csrf_token(client.get("/login").text)  # issued before the session
    login(plant)
    for token in ("", "0" * 64, stale):
        r = annotate(client, PLC, token=token, authorized="unauthorized")
        assert r.status_code == 403 and JA["csrf_failed"] in r.text
    assert 'value="unknown" selected' in client.get(f"/assets/{PLC}").text
    with client.app.state.controlplane.sessions() as db:
        assert db.query(AuditLog).filter_by(action="asset.annotate").count() == 0


def test_annotation_is_saved_audited_and_survives_reingest(client, plant, login):
    login(plant)
    r = annotate(client, PLC, authorized="authorized", importance="critical", tags="line-1、 press, line-1",
                 notes="  Main press PLC ")
    assert r.status_code == 303 and r.headers["location"] == f"/assets/{PLC}?saved=1"
    assert JA["saved"] in client.get(r.headers["location"]).text
    assert annotate(client, "10.1.0.3", authorized="unauthorized").status_code == 303

    # The same facts observed again, later: the analyst's word stays.
    assert post_batch(client, plant.sensor_token, plant_batch("10.1.0", T0 + timedelta(minutes=5))).status_code == 200
    html = client.get(f"/assets/{PLC}").text
    assert JA["saved"] not in html
    assert 'value="authorized" selected' in html and 'value="critical" selected' in html
    assert 'value="line-1, press"' in html and ">Main press PLC</textarea>" in html

    listing = client.get("/assets").text
    assert '<span class="chip tag">line-1</span><span class="chip tag">press</span>' in row(listing, PLC)
    assert f'<span class="badge imp-critical">{JA["importance_critical"]}</span>' in row(listing, PLC)
    assert row(listing, "10.1.0.3").startswith('<tr class="linked unauthorized"')  # highlighted
    assert JA["unauthorized_count"].format(n=1) in listing

    with client.app.state.controlplane.sessions() as db:
        entries = db.query(AuditLog).filter_by(action="asset.annotate").order_by(AuditLog.id).all()
    assert [(e.actor, e.tenant_id) for e in entries] == [(plant.email, plant.id)] * 2
    assert entries[0].detail.startswith(f"{PLC}: ") and '"importance":"critical"' in entries[0].detail


INVALID = [
    ({"authorized": "maybe"}, "authorization"),
    ({"importance": "huge"}, "importance"),
    ({"notes": "x" * 4001}, "notes"),
    ({"tags": ",".join(f"t{i}" for i in range(33))}, "tags"),
]


def test_invalid_annotation_shows_the_form_again(client, plant, login):
    login(plant)
    for fields, label in INVALID:
        r = annotate(client, PLC, **{"tags": "keep-me", "notes": "typed", **fields})
        assert r.status_code == 400, fields
        assert JA["annotation_invalid"].format(field=JA[label]) in r.text
        assert 'name="tags" value="keep-me"' in r.text or "tags" in fields  # what was typed is kept
        assert ">typed</textarea>" in r.text or "notes" in fields
    assert 'value="unknown" selected' in client.get(f"/assets/{PLC}").text  # nothing saved


def test_other_tenants_assets_are_not_found(client, plant, globex, login):
    login(globex)
    html = client.get("/assets?q=10.").text
    assert devices(html) == ["10.2.0.1", PLC, "10.2.0.3"] and "10.1.0." not in html
    assert "10.1.0." not in client.get("/assets.csv").text
    for path in ("/assets/10.1.0.1", "/assets/no-such-device"):
        r = client.get(path)
        assert r.status_code == 404 and JA["asset_not_found"] in r.text and 'href="/assets"' in r.text
    r = annotate(client, "10.1.0.1", token=csrf_token(client.get("/assets").text), authorized="authorized")
    assert r.status_code == 404
    # Both plants have a device with this MAC; each tenant sees its own.
    mine = client.get(f"/assets/{PLC}").text
    assert "10.2.0.2" in mine and "10.1.0" not in mine and "write_single_register" not in mine


def test_a_device_named_by_its_ip_or_an_upper_case_mac_opens_its_page(client, plant, login):
    login(plant)
    for named in ("10.1.0.2", PLC.upper()):
        r = client.get(f"/assets/{named}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/assets/{PLC}", named
    r = client.get("/api/v1/assets/10.1.0.2", headers={"Authorization": f"Bearer {plant.api_token}"})
    assert r.status_code == 200 and r.json()["device"] == PLC
    assert client.get("/assets/10.1.0.99").status_code == 404


def test_an_unknown_page_is_the_styled_404_and_the_api_keeps_json(client, plant, login):
    login(plant)
    r = client.get("/no/such/page?lang=en", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 404 and EN["page_not_found"] in r.text and 'class="topnav"' in r.text
    api = client.get("/api/v1/nowhere", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert client.get("/no/such/page").json() == {"detail": "Not Found"}  # not a browser


def test_a_search_longer_than_200_characters_is_refused_with_a_page(client, plant, login):
    login(plant)
    assert 'maxlength="200"' in client.get("/assets").text
    for path in ("/assets", "/assets.csv"):
        r = client.get(path, params={"q": "a" * 201, "lang": "en"})
        assert r.status_code == 422 and EN["search_too_long"] in r.text, path
    assert client.get("/assets", params={"q": "a" * 200}).status_code == 200
    api = client.get("/api/v1/assets", params={"q": "a" * 201}, headers={"Authorization": f"Bearer {plant.api_token}"})
    assert api.status_code == 422
