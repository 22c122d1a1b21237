"""Issue 14's faults 1, 2, 6, 7, 8 and 12 in Chromium at 1366 px, Japanese and English, on the
simulated plant: first/last seen to the second, search on what the page shows, empty values last,
the search box's limit, the styled 404 and devices named by IP or upper-case MAC, plotly.js
compressed and cached. (Faults 3, 5, 9: test_ledger_fit.py; 4: test_docs_browser.py; 10:
test_assets_download_browser.py; 11: test_admin_browser.py.)"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from browsertest import collect_errors, search
from browsershot import shoot

from dashboard.assets import COLUMNS
from dashboard.i18n import MESSAGES

ROWS = "#ledger tbody tr"
JST = ZoneInfo("Asia/Tokyo")


def column(page, name: str) -> list[str]:
    n = [key for key, _ in COLUMNS].index(name) + 1
    return [t.strip() for t in page.locator(f"{ROWS} td:nth-child({n})").all_inner_texts()]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_seen_times_search_sort_and_the_search_limit(site, signed_page, screenshots, lang):
    page = signed_page
    text, errors = MESSAGES[lang], collect_errors(page)
    page.goto(f"{site.url}/assets?lang={lang}")
    # 1: first and last seen as the API has them to the microsecond (the page shows JST minutes),
    # never rounded to the hour
    api = {a["device"]: a for a in page.request.get(f"{site.url}/api/v1/assets").json()}
    assert any(datetime.fromisoformat(a["first_seen"]).second for a in api.values())
    devices = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.device)")
    for name in ("first_seen", "last_seen"):
        shown = [" ".join(t.split()) for t in column(page, name)]
        exact = [datetime.fromisoformat(api[d][name]).astimezone(JST).strftime("%Y-%m-%d %H:%M") for d in devices]
        assert shown == exact, name
    assert len(set(column(page, "last_seen"))) > 1

    # 2: the search finds what the page shows in its language, not internal keys
    cameras = {d["ip"] for d in site.devices if d["role"] == "camera"}
    search(page, text["role_camera"])
    assert cameras and set(column(page, "ip")) == cameras
    search(page, "engineering_workstation")
    assert page.locator(ROWS).count() == 0  # a role's key, never shown (names such as PLC_LINE1 and
    # services such as omron_fins are shown, so "_" alone finds those)

    # 6: empty hostnames last whichever way the column is sorted
    for order in ("asc", "desc"):
        page.goto(f"{site.url}/assets?lang={lang}&sort=hostname&order={order}")
        names = column(page, "hostname")
        filled = [n for n in names if n]
        assert names == filled + [""] * (len(names) - len(filled)) and filled, (order, names)
        assert filled == sorted(filled, reverse=order == "desc")

    # 7: the box takes 200 characters at most
    page.fill("input[name=q]", "a" * 300)
    assert len(page.input_value("input[name=q]")) == 200
    shoot(page, screenshots / f"faults-ledger-{lang}.png")
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_unknown_pages_and_devices_named_by_ip_or_upper_case_mac(site, signed_page, screenshots, lang):
    page = signed_page
    text = MESSAGES[lang]
    r = page.goto(f"{site.url}/no/such/page?lang={lang}")
    assert r.status == 404 and text["page_not_found"] in page.inner_text("main")
    assert page.locator(".topnav a").count() >= 5  # the styled page, menu included
    shoot(page, screenshots / f"faults-404-{lang}.png")
    plc = next(d for d in site.devices if d["role"] == "plc" and d["name"] == "plc-logix-1")
    for named in (plc["ip"], plc["mac"].upper()):
        page.goto(f"{site.url}/assets/{named}?lang={lang}")
        assert page.url.split("?")[0] == f"{site.url}/assets/{plc['mac']}", named
        assert plc["ip"] in page.inner_text("h1")


def test_plotly_comes_compressed_and_cacheable(site, signed_page):
    page = signed_page
    scripts = []
    page.on("response", lambda r: scripts.append(r) if "plotly" in r.url else None)
    page.goto(f"{site.url}/")
    (script,) = scripts
    assert re.search(r"/static/dashboard/plotly-[\d.]+\.min\.js$", script.url)
    headers = script.all_headers()
    assert headers["content-encoding"] == "gzip" and "immutable" in headers["cache-control"]
    assert int(headers["content-length"]) < 2_000_000  # 4.8 MB plain
