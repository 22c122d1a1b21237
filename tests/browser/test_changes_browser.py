"""The changes page (変化) in Chromium at 1366 px, Japanese and English, on the simulated plant
captured twice a week apart (tests/twoperiods.py): the default comparison shows the laptop added, the
camera gone, the firmware upgrade, the new links and the new Modbus write; devices link to their
pages; the volatile switch and the CSV follow what is shown; an inverted period is refused."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import twoperiods
from browsertest import collect_errors, follow, log_in, search
from coretest import LiveServer, provision
from storetemplate import migrated
from browsershot import shoot

from core.api.app import create_app
from core.config import Settings
from dashboard.i18n import MESSAGES
from sensor import wire

WIDTH = 1366


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("changes")
    periods = twoperiods.build(workdir)
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme = provision(live.app, "acme")
        for batch in periods.batches:
            live.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch))
        yield live.url, acme, periods


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP")
    yield context.new_page()
    context.close()


def rows(page, section: str, attribute: str) -> list[str]:
    return [r.get_attribute(attribute) for r in page.locator(f"#{section} tbody tr").all()]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_default_comparison_shows_every_change(plant, wide, screenshots, lang):
    url, acme, periods = plant
    page = wide
    errors = collect_errors(page)
    log_in(page, url, acme.email)
    text = MESSAGES[lang]
    page.goto(f"{url}/?lang={lang}")
    follow(page, f".topnav a:has-text('{text['nav_changes']}')")
    assert page.locator(".topnav a.active").inner_text() == text["nav_changes"]
    assert page.locator("h1").inner_text() == text["changes_title"]
    assert page.locator(".ranges a.current").get_attribute("data-range") == "7d"

    gone = periods.devices[twoperiods.GONE]
    assert rows(page, "devices_added", "data-device") == [twoperiods.LAPTOP["mac"]]
    assert rows(page, "devices_removed", "data-device") == [gone["mac"]]
    logix = periods.devices[twoperiods.UPGRADED[0]]
    change = page.locator("#attributes_changed tbody tr")
    assert change.count() == 1 and change.get_attribute("data-device") == logix["mac"]
    assert change.locator("td.old").inner_text() == "33.11" and change.locator("td.new").inner_text() == "34.11"
    assert text["attr_firmware"] in change.inner_text()
    assert set(rows(page, "pairs_added", "data-pair")) == {f"{o}>{r}/{s}" for o, r, s in twoperiods.NEW_LINKS}
    assert page.locator("#pairs_removed tbody tr").count() >= 1
    assert rows(page, "functions_added", "data-function") == ["modbus/WRITE_SINGLE_COIL"]
    assert page.locator("#devices_added th").count() == 7  # first and last seen shown
    shoot(page, screenshots / f"changes-changes-{lang}.png", full_page=True)

    # the volatile switch: the same changes without counters and times
    page.check("input[name=stable]")
    follow(page, f"button:has-text('{text['compare']}')")
    assert "stable=1" in page.url
    assert page.locator("#devices_added th").count() == 5
    assert rows(page, "devices_added", "data-device") == [twoperiods.LAPTOP["mac"]]
    if lang == "en":
        shoot(page, screenshots / "changes-changes-stable-en.png", full_page=True)

    # the CSV is what the page shows
    href = page.locator("#csv").get_attribute("href")
    csv_text = httpx.get(url + href, cookies={c["name"]: c["value"] for c in page.context.cookies()}).text
    listed = list(csv.DictReader(io.StringIO(csv_text)))
    shown = sum(int(n) for n in page.locator("[data-count]").all_inner_texts())
    assert len(listed) == shown and {r["first_seen"] for r in listed} == {""}

    # a device links to its page
    follow(page, f"#devices_removed a:has-text('{gone['ip']}')")
    assert page.url.endswith(f"/assets/{gone['mac']}")
    assert errors == []


def test_an_inverted_period_is_refused(plant, wide):
    url, acme, _ = plant
    log_in(wide, url, acme.email)
    response = wide.goto(f"{url}/changes?a_start=2026-01-06T00:00&a_end=2026-01-05T00:00")
    assert response.status == 422
    assert MESSAGES["ja"]["changes_inverted"] in wide.content()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_ledger_by_period(plant, wide, screenshots, lang):
    """The asset ledger's period picker: all history lists the camera gone in period B, the last
    hour (period B) lists the laptop and not the camera; sort, filter and CSV keep the period."""
    url, acme, periods = plant
    page = wide
    errors = collect_errors(page)
    log_in(page, url, acme.email)
    page.goto(f"{url}/assets?lang={lang}")
    gone, laptop = periods.devices[twoperiods.GONE], twoperiods.LAPTOP
    ips = lambda: set(page.locator("#ledger tbody tr td:nth-child(1)").all_inner_texts())  # noqa: E731
    assert page.locator(".ranges a.current").get_attribute("data-range") == "all"
    assert {gone["ip"], laptop["ip"]} <= ips()
    follow(page, ".ranges a[data-range='1h']")
    assert "range=1h" in page.url
    assert laptop["ip"] in ips() and gone["ip"] not in ips()
    follow(page, "th a[data-sort=vendor]")
    assert "range=1h" in page.url and gone["ip"] not in ips()
    search(page, "10.10.0")
    assert "range=1h" in page.url and gone["ip"] not in ips()
    href = page.locator("#csv-utf8").get_attribute("href")  # the page as shown, plain UTF-8
    csv_text = httpx.get(url + href, cookies={c["name"]: c["value"] for c in page.context.cookies()}).text
    assert laptop["ip"] in csv_text and gone["ip"] not in csv_text
    shoot(page, screenshots / f"ledger-assets-1h-{lang}.png", full_page=True)
    assert errors == []
