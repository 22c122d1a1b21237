"""Risk in Chromium at 1366 px, on the simulated plant: the site learns a safe capture (an analyst
looks at the site's risk that day, the day before today), then the risky one's incidents raise
alerts. The ledger sorts by risk, the riskiest device's page explains its score factor by factor,
the overview charts the site's two days; every page fits the width in Japanese and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from browsertest import collect_errors, follow, ingest_plant, log_in, provision_learning
from coretest import LiveServer, bearer
from storetemplate import migrated
from browsershot import shoot

from core.analytics import risk
from core.analytics.assets import list_assets
from core.api.app import create_app
from core.config import Settings
from dashboard.i18n import MESSAGES, translator
from dashboard.riskview import say
from sensor import simulate

WIDTH = 1366


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("risk")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme = provision_learning(live.app)
        ch = live.app.state.clickhouse
        with httpx.Client(base_url=live.url) as client:
            ingest_plant(client, acme.sensor_token, workdir / "safe.pcap", simulate.EPOCH, risky=False)
            # the analyst's look the day before: that day's snapshot
            risk.site_risk(ch, acme.id, list_assets(ch, acme.id), now=datetime.now(UTC) - timedelta(days=1))
            ingest_plant(client, acme.sensor_token, workdir / "risky.pcap", simulate.EPOCH + 7200, risky=True)
            live.ranked = client.get("/api/v1/assets", params={"sort": "risk", "order": "desc"},
                                     headers=bearer(acme.api_token)).json()
        live.acme, live.day = acme, datetime.now(UTC).date()
        yield live


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_ledger_device_page_and_overview_show_risk(plant, browser, screenshots, lang):
    m, t = MESSAGES[lang], translator(lang)
    riskiest = plant.ranked[0]
    assert riskiest["risk"] >= 70 and riskiest["risk_level"] == "high", riskiest  # the plant's incidents
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP")
    page = context.new_page()
    errors = collect_errors(page)
    log_in(page, plant.url, plant.acme.email)

    page.goto(f"{plant.url}/assets?lang={lang}")
    follow(page, "th a[data-sort=risk]")  # ascending first, then the riskiest on top
    follow(page, "th a[data-sort=risk]")
    assert "sort=risk" in page.url and "order=desc" in page.url
    shown = [int(s) for s in page.locator("#ledger td [data-risk]").all_inner_texts()]
    assert shown == [a["risk"] for a in plant.ranked] and shown == sorted(shown, reverse=True)
    assert page.locator("th[aria-sort=descending]").inner_text().startswith(m["risk"])
    assert fits(page)
    shoot(page, screenshots / f"risk-assets-{lang}.png", full_page=True)

    follow(page, f"tr[data-device='{riskiest['device']}'] a.rowlink")
    section = page.locator("#risk")
    assert section.locator("h2 [data-risk]").inner_text() == str(riskiest["risk"])
    rows = section.locator("tr[data-factor]")
    assert rows.count() == len(riskiest["risk_factors"]) > 1
    for row, factor in zip(rows.all(), riskiest["risk_factors"]):
        cells = row.locator("td").all_inner_texts()
        assert cells == [m[f"risk_factor_{factor['name']}"], f"{factor['points']:+d}", say(factor["parts"], t)]
    total = sum(f["points"] for f in riskiest["risk_factors"])
    if total > riskiest["risk"]:  # the cap is said
        assert str(total) in section.locator("p.muted").inner_text()
    assert fits(page)
    shoot(page, screenshots / f"risk-device-{lang}.png", full_page=True)

    page.goto(f"{plant.url}/?lang={lang}")
    card = page.locator("#site-risk")
    page.wait_for_selector("#site-risk .main-svg")  # plotly drew the trend
    days = 2 + (datetime.now(UTC).date() - plant.day).days  # the day before, the plant's day (and today past midnight)
    assert card.locator(".scatterlayer .point").count() == days
    shown = list(zip(card.locator("table.risky a.rowlink").all_inner_texts(),
                     map(int, card.locator("table.risky [data-risk]").all_inner_texts())))
    assert [score for _, score in shown] == [a["risk"] for a in plant.ranked[:5]]  # ties in any order
    assert set(shown) <= {(a["ip"], a["risk"]) for a in plant.ranked}
    counts = {level: int(card.locator(f"a[data-level={level}] strong").inner_text()) for level in risk.LEVELS}
    assert sum(counts.values()) == len(plant.ranked)
    assert counts["high"] == sum(a["risk_level"] == "high" for a in plant.ranked)
    assert fits(page)
    shoot(page, screenshots / f"risk-overview-{lang}.png", full_page=True)
    assert errors == []
    context.close()
