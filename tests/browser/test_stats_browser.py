"""The data team's page (/stats) in Chromium at 1366 px on the five-tenant fleet (tests/statsfleet.py):
the provider's data team finds it in the navigation, picks January–February 2026 and sees every
chart drawn, in Japanese and English (screenshots), downloads the CSV with a purpose; a customer's
analyst has no link and is refused. The page's latency is measured over HTTP."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest
from browsertest import collect_errors, follow, log_in
from coretest import LiveServer
from statsfleet import CSAF, DATATEAM, PLANTS, build_fleet
from storetemplate import migrated
from browsershot import shoot

from core.api.app import create_app
from core.config import Settings
from dashboard.i18n import MESSAGES

pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")
WIDTH = 1366
JA, EN = MESSAGES["ja"], MESSAGES["en"]
WINDOW = "start=2026-01-01&end=2026-02-28"
CHARTS = ("devices-role", "devices-vendor", "protocols", "ot-functions", "insecure", "alerts", "vulnerabilities")


@pytest.fixture(scope="module")
def fleet_site(tmp_path_factory):
    """Five tenants is a small fleet: a cell needs 3 tenants and 4 devices here (m = 10 by default)."""
    workdir = tmp_path_factory.mktemp("stats-site")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir), stats_m=4))) as live:
        build_fleet(live.app, workdir)
        yield live


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def test_the_data_team_sees_the_fleet_in_both_languages(fleet_site, browser, screenshots, tmp_path):
    url = fleet_site.url
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP", accept_downloads=True)
    page = context.new_page()
    errors = collect_errors(page)
    log_in(page, url, DATATEAM)
    follow(page, f".topnav a:has-text('{JA['nav_stats']}')")
    assert page.url == f"{url}/stats"
    assert page.locator("h1").inner_text() == JA["stats_title"]
    page.fill("input[name=start]", "2026-01-01")
    page.fill("input[name=end]", "2026-02-28")
    follow(page, "#stats-window button[type=submit]")
    for chart in CHARTS:
        assert page.locator(f"#{chart} .main-svg").count() >= 1, chart
    assert page.locator("#stats-kpis strong").first.inner_text() == "4"  # the February fleet: four tenants
    assert page.locator("#stats-suppressed tbody tr").count() >= 3
    text = page.locator("main").inner_text()
    for name, *_ in PLANTS:
        assert name not in text
    assert fits(page)
    shoot(page, screenshots / "stats-stats-ja.png", full_page=True)

    follow(page, "a[data-lang=en]")
    assert page.locator("h1").inner_text() == EN["stats_title"]
    assert page.locator("#devices-role .main-svg").count() >= 1
    assert fits(page)
    shoot(page, screenshots / "stats-stats-en.png", full_page=True)

    page.fill("input[name=purpose]", "quarterly attack-trend report")
    with page.expect_download() as info:
        page.click("#stats-export button:has-text('CSV')")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.read_text().startswith("period,table,group,label,sites,devices,measure,value")
    assert errors == []

    cookies = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=url, cookies=cookies) as client:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get(f"/stats?{WINDOW}").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    print(f"\n/stats (two months, five tenants): median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms over {len(times)} requests")
    context.close()


def test_a_customers_analyst_has_no_link_and_is_refused(fleet_site, browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP")
    page = context.new_page()
    log_in(page, fleet_site.url, f"analyst@{PLANTS[0][0]}.example")
    assert page.locator(f".topnav a:has-text('{JA['nav_stats']}')").count() == 0
    response = page.goto(f"{fleet_site.url}/stats?{WINDOW}")
    assert response.status == 403 and JA["stats_only"] in page.locator("main").inner_text()
    context.close()
