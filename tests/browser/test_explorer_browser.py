"""The explorer (探索 / Hunt) in Chromium at 1366 px, Japanese and English, on the simulated plant:
the top menu with it still fits in one row for an analyst and an admin; the events table shows every
column with no sideways scrolling; from a device's page the "see all" link opens the events explorer
filtered to the device, with its timeline drawn; a page forward shows the next rows; the CSV download
holds exactly the result shown, in its order."""

from __future__ import annotations

import csv
import io

import pytest
from browsertest import collect_errors, follow, log_in
from browsershot import shoot
from coretest import add_user

from dashboard.i18n import MESSAGES

WIDTH = 1366


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP", accept_downloads=True)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def admin(site) -> str:
    add_user(site.app, "acme", "admin@acme.example", "admin")
    return "admin@acme.example"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_the_menu_with_the_explorer_fits_one_row(site, admin, wide, screenshots, lang, who):
    page = wide
    log_in(page, site.url, site.acme_email if who == "analyst" else admin)
    page.goto(f"{site.url}/flows?lang={lang}")
    links = page.locator(".topnav a")
    assert MESSAGES[lang]["nav_explore_flows"] in links.all_inner_texts()
    boxes = [links.nth(i).bounding_box() for i in range(links.count())]
    tools = page.locator(".topbar .tools").bounding_box()
    assert len({round(b["y"]) for b in boxes}) == 1  # one row
    assert max(b["x"] + b["width"] for b in boxes) <= tools["x"]  # left of the language and user tools
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    langs = [b["y"] for b in (page.locator(".langs a").nth(i).bounding_box() for i in range(2))]
    assert langs[0] == langs[1]  # the language switch on one line
    assert page.locator(".tools button").bounding_box()["height"] < 30  # "Log out" on one line
    shoot(page, screenshots / f"explorer-menu-{who}-{lang}.png")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_from_a_device_to_its_events_then_the_next_page_and_the_csv(site, wide, screenshots, lang):
    page = wide
    errors = collect_errors(page)
    text = MESSAGES[lang]
    log_in(page, site.url, site.acme_email)
    page.goto(f"{site.url}/events?lang={lang}")  # every kind of event: the widest details
    # every column in view at 1366 px, the flow id last: no sideways scrolling
    assert page.locator("#results .scroll").evaluate("el => el.scrollWidth - el.clientWidth") == 0
    device = busiest(site)
    page.goto(f"{site.url}/assets/{device['mac']}?lang={lang}")
    follow(page, "#explore-events")
    assert "/events?" in page.url and page.input_value("input[name=device]") == device["ip"]
    assert page.locator(".topnav a.active").inner_text() == text["nav_explore_flows"]
    page.select_option("select[name=size]", "25")
    follow(page, "#filters button[type=submit]")
    count = int(page.locator("#result-count").get_attribute("data-count"))
    assert count > 25  # more than one page
    page.wait_for_selector("#timeline .js-plotly-plot")
    assert sum(page.locator("#timeline .js-plotly-plot").evaluate("el => el.data[0].y")) == count
    first = rows(page)
    assert len(first) == 25 and all(device["ip"] in (r[1], r[2]) for r in first)
    shoot(page, screenshots / f"explorer-events-{lang}.png", full_page=True)

    follow(page, "#next-page")
    second = rows(page)
    assert second and not set(second) & set(first) and all(device["ip"] in (r[1], r[2]) for r in second)

    with page.expect_download() as download:
        page.click("#csv")
    table = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(table) == count
    shown = [(r["ts"], r["orig_h"], r["resp_h"], r["action"]) for r in table]
    assert [(s[1], s[2], s[3]) for s in shown[:len(first + second)]] == [(r[1], r[2], r[3]) for r in first + second]
    shoot(page, screenshots / f"explorer-events-page2-{lang}.png", full_page=True)
    follow(page, "a[data-tab=flows]")
    shoot(page, screenshots / f"explorer-flows-{lang}.png", full_page=True)
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_flows_sorted_by_bytes_show_the_top_of_the_whole_result(site, signed_page, screenshots, lang):
    """A click on the bytes heading sorts the page by that column (read bounded, not the whole window's
    sort): the rows shown are the first of the download, which holds the whole result in its order."""
    page = signed_page
    page.goto(f"{site.url}/flows?range=7d&lang={lang}")
    follow(page, "th a[data-sort=orig_bytes]")
    heading = page.locator("th[aria-sort]")
    assert heading.get_attribute("aria-sort") == "descending" and heading.locator("a").get_attribute(
        "data-sort") == "orig_bytes"
    shown = page.locator("#results tbody td.uid").all_inner_texts()
    with page.expect_download() as download:
        page.click("#csv")
    table = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    sent = [int(r["orig_bytes"]) for r in table]
    assert len(shown) > 10 and len(set(sent)) > 10  # a page of rows, and bytes that tell them apart
    assert sent == sorted(sent, reverse=True)
    assert shown == [r["uid"] for r in table[:len(shown)]]
    shoot(page, screenshots / f"explorer-flows-by-bytes-{lang}.png", full_page=True)


def busiest(site) -> dict:
    """The simulated device in the most events (read from the store: the test's own choice)."""
    ip = site.app.state.clickhouse.query(
        "SELECT host FROM events ARRAY JOIN [orig_h, resp_h] AS host WHERE host != ''"
        " GROUP BY host ORDER BY count() DESC LIMIT 1")[0]["host"]
    return next(d for d in site.devices if d["ip"] == ip)


def rows(page) -> list[tuple[str, ...]]:
    """(time, source, destination, function as the sensor names it, uid) of each row shown (the page
    shows the function in its language; the sensor's name is the cell's title)."""
    found = []
    for row in page.locator("#results tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        found.append((row.get_attribute("data-ts"), cells[1].split(":")[0].strip(), cells[2].strip(),
                      row.locator("td").nth(5).get_attribute("title"), cells[9].strip()))
    return found


def test_a_top_talkers_bar_opens_the_flows_of_its_host(site, wide):
    page = wide
    log_in(page, site.url, site.acme_email)
    page.goto(f"{site.url}/?range=7d")
    page.wait_for_selector("#talkers .js-plotly-plot")
    bars = page.locator("#talkers .js-plotly-plot").evaluate("el => el.data[0].customdata")
    host = bars[-1].split("device=")[1]  # the top bar
    page.locator("#talkers").scroll_into_view_if_needed()
    box = page.locator("#talkers .js-plotly-plot .bars .point path").last.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # plotly's drag layer on top
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/flows?**")
    assert page.input_value("input[name=device]") == host
    sources = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
    targets = page.locator("#results tbody tr td:nth-child(3)").all_inner_texts()
    assert sources and all(host in (s.split(":")[0], d) for s, d in zip(sources, targets, strict=True))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_dangerous_modbus_writes_are_badged(site, signed_page, screenshots, lang):
    page = signed_page  # (a login per test: this module's would meet the login throttle, 10 a minute)
    page.goto(f"{site.url}/events?range=7d&protocol=modbus&sort=-action&lang={lang}")
    badges = page.locator("#results .danger-badge")
    assert badges.count() > 0
    assert set(badges.all_inner_texts()) <= {f"⚠ {MESSAGES[lang]['explore_danger_' + d]}"
                                              for d in ("write", "plc_stop", "plc_start", "plc_program_change",
                                                        "firmware_change")}
    row = page.locator("#results tr.danger").first
    assert "write" in row.locator("td[title]").get_attribute("title").lower() or badges.first.get_attribute("data-danger") != "write"
    if lang == "ja":  # the function in Japanese, the sensor's name kept in the title
        assert "書込" in row.locator("td[title]").inner_text()
    shoot(page, screenshots / f"explorer-danger-{lang}.png", full_page=True)
