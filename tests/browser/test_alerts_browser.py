"""The alert pages in Chromium at 1366 px, on alerts the engine raised from the simulated plant: the
site learns a safe capture, then the risky one's incidents fire. An analyst reaches the alerts from
the navigation, filters to critical, opens one and acknowledges it; every page fits the width in both
languages and its timeline draws."""

from __future__ import annotations

import httpx
import pytest
from browsertest import collect_errors, follow, ingest_plant, log_in, provision_learning
from coretest import LiveServer
from storetemplate import migrated
from browsershot import shoot

from core.api.app import create_app
from core.config import Settings
from core.detect import store
from sensor import simulate
from dashboard.alertview import NEWEST, PAGE
from dashboard.i18n import MESSAGES

WIDTH = 1366


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """acme learns an hour of nothing but a safe capture, then the risky plant two hours later."""
    workdir = tmp_path_factory.mktemp("alerts")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme = provision_learning(live.app)
        with httpx.Client(base_url=live.url) as client:
            for name, start, risky in (("safe", simulate.EPOCH, False), ("risky", simulate.EPOCH + 7200, True)):
                ingest_plant(client, acme.sensor_token, workdir / f"{name}.pcap", start, risky)
        live.alerts = store.list_alerts(live.app.state.clickhouse, acme.id, limit=1000)
        live.acme = acme
        yield live


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def test_filter_open_and_acknowledge_an_alert(plant, browser, screenshots):
    kinds = {a["kind"] for a in plant.alerts}
    assert {"plc_stop", "new_device", "scan"} <= kinds, kinds
    critical = [a for a in plant.alerts if a["severity"] == "critical"]
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP")
    page = context.new_page()
    errors = collect_errors(page)
    log_in(page, plant.url, plant.acme.email)
    ja, en = MESSAGES["ja"], MESSAGES["en"]

    follow(page, f".topnav a:has-text('{ja['nav_alerts']}')")
    assert page.url == f"{plant.url}/alerts"
    assert page.locator(".topnav a.active").inner_text() == ja["nav_alerts"]
    assert page.locator("tr.alert-row").count() == min(len(plant.alerts), PAGE)  # all open, a page of them
    assert str(len(plant.alerts)) in page.locator("#alert-total").inner_text()
    assert page.locator(".pager a[rel=next]").count() == (len(plant.alerts) > PAGE)
    page.wait_for_selector("#alert-timeline .main-svg")  # plotly drew the timeline
    assert page.locator("#alert-timeline .bars path").count() > 0
    assert fits(page)
    shoot(page, screenshots / "alerts-ja.png", full_page=True)

    page.select_option("select[name=severity]", "critical")
    follow(page, f"#alert-filters button:has-text('{ja['filter']}')")
    assert "severity=critical" in page.url
    assert page.locator("tr.alert-row").count() == len(critical)
    assert set(page.locator("tr.alert-row [data-severity]").all_inner_texts()) == {ja["severity_critical"]}

    stop = next(a for a in critical if a["kind"] == "plc_stop")
    follow(page, f"tr[data-alert='{stop['id']}'] td.title a")
    assert page.url == f"{plant.url}/alerts/{stop['id']}"
    assert stop["dst"]["ip"] in page.locator("p.what").inner_text()
    assert "T0858" in page.locator("#technique").inner_text()
    assert page.locator("#evidence-events tbody tr").count() >= 1
    assert fits(page)
    shoot(page, screenshots / "alert-ja.png", full_page=True)

    follow(page, "button[data-action=acknowledge]")
    assert page.url.endswith(f"/alerts/{stop['id']}?done=acknowledge")
    assert page.locator("p.notice").inner_text() == ja["done_acknowledge"]
    assert page.locator(".subtitle .badge").first.inner_text() == ja["alert_status_acknowledged"]
    assert ja["alert_status_acknowledged"] in page.locator("#history").inner_text()
    assert store.get_alert(plant.app.state.clickhouse, plant.acme.id, stop["id"])["status"] == "acknowledged"

    device = stop["dst"]["device"]
    for lang in ("en", "ja"):
        m = MESSAGES[lang]
        for name, path in (("alerts", "/alerts"), ("alert", f"/alerts/{stop['id']}"), ("overview", "/"),
                           ("device", f"/assets/{device}")):
            page.goto(f"{plant.url}{path}?lang={lang}")
            assert fits(page), (lang, name)
            if name != "alert":
                page.wait_for_selector(".figure .main-svg")
            if name == "overview":  # the newest open alerts, and the open ones by severity
                assert page.locator("#alert-summary tr.alert-row").count() == NEWEST
                critical_open = page.locator("#alert-summary a[data-severity=critical] strong").inner_text()
                assert critical_open == str(len(critical))
            if name == "device":
                assert page.locator(f"#device-alerts tr[data-alert='{stop['id']}']").count() == 1
            assert m["nav_alerts"] in page.locator(".topnav").inner_text()
            shoot(page, screenshots / f"{name}-alerts-{lang}.png", full_page=True)
    assert errors == []
    context.close()
