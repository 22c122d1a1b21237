"""The sensors page in a real browser: reached from the navigation, one row per sensor with the API's
numbers, the health report's economy badge and usage bar, both languages."""

from __future__ import annotations

import httpx
from browsertest import collect_errors, follow, log_in
from browsershot import shoot
from coretest import bearer

from dashboard.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]
HEALTH = {"capture_pps": 950.0, "kernel_drops": 12, "parse_errors": 40, "unknown_link_types": {"239": 40}, "spool_depth": 1, "spool_bytes": 2048,
          "spool_oldest_age_s": 30.0, "bytes_this_month": 900_000_000, "monthly_budget_bytes": 1_000_000_000,
          "data_mode": "economy", "spool_rejected": 2,
          "last_rejection": "400: invalid batch: interval 9999-12-31T23:00:00+00:00..9999-12-31T23:01:00+00:00 outside "
                            "what this core takes"}


def test_sensors_table_with_health(site, page, screenshots):
    r = httpx.post(f"{site.url}/api/v1/sensor/health", headers=bearer(site.acme_sensor_token), json=HEALTH)
    assert r.status_code == 200, r.text
    errors = collect_errors(page)
    log_in(page, site.url, site.acme_email)
    follow(page, f".topnav a:has-text('{JA['nav_sensors']}')")
    assert page.url == f"{site.url}/sensors"
    assert page.locator(".topnav a.active").inner_text() == JA["nav_sensors"]
    assert page.locator("h1").inner_text() == JA["sensors_title"]

    row = page.locator("#sensor-health tbody tr")
    assert row.count() == 1 and row.get_attribute("data-sensor") == "SN-acme"
    [sensor] = page.evaluate("fetch('/api/v1/sensors').then(r => r.json())")  # same session
    assert row.locator("[data-col=batches]").inner_text() == f"{sensor['batches']:,}"
    assert row.locator("[data-col=packets]").inner_text() == f"{sensor['packets']:,}"
    assert row.locator("[data-col=kernel-drops]").inner_text() == "12"
    assert row.locator("meter").get_attribute("value") == "90" and row.locator("meter").is_visible()
    assert row.locator(".badge.economy").inner_text() == JA["economy_mode"]
    assert row.get_attribute("class") is None  # just heard from: not stale
    set_aside = row.locator("[data-col=set-aside]")
    assert set_aside.inner_text() == JA["set_aside"].format(n=2) and set_aside.is_visible()
    assert HEALTH["last_rejection"] in set_aside.get_attribute("title")
    assert row.locator("[data-col=last-rejection]").inner_text().startswith("interval 9999-12")
    assert row.locator("[data-col=unknown-link-types]").inner_text() == "DLT 239: 40"
    assert errors == []
    page.set_viewport_size({"width": 1366, "height": 900})
    shoot(page, screenshots / "sensors-ja.png", full_page=True)

    follow(page, "a[data-lang=en]")
    assert page.locator("h1").inner_text() == EN["sensors_title"]
    assert row.locator(".badge.economy").inner_text() == EN["economy_mode"]
    assert row.locator("[data-col=set-aside]").inner_text() == "2 set aside"
    shoot(page, screenshots / "sensors-en.png", full_page=True)
