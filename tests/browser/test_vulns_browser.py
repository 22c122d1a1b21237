"""The vulnerabilities page in Chromium on the simulated plant with the shared CISA advisories
imported: by CVE and by device, the device page's list, the overview's count; ja and en at 1366 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from browsertest import collect_errors, log_in

from core.vulns.store import import_path
from dashboard.i18n import MESSAGES

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")
WIDTH = 1366


@pytest.fixture(scope="module")
def plant(site):
    """The simulated plant with the advisories imported. Its ControlLogix 5580 (CIP List Identity:
    1756-L83E/B, revision 33.11) is the one simulated device that reports a model and firmware."""
    import_path(site.app.state.clickhouse, CSAF)
    return site


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def server_ms(page) -> float:
    return page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                         " return n.responseEnd - n.requestStart; })()")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_vulnerabilities_page(plant, browser, screenshots, lang):
    text = MESSAGES[lang]
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP")
    page = context.new_page()
    errors = collect_errors(page)
    log_in(page, plant.url, plant.acme_email)
    page.goto(f"{plant.url}/?lang={lang}")
    logix = next(d for d in plant.devices if d["name"] == "plc-logix-1")

    kpi = page.locator("#vuln-kpi strong")
    assert int(kpi.inner_text()) == 2  # CVE-2022-1161 and CVE-2024-6207
    assert fits(page)
    page.locator(".kpis").screenshot(path=screenshots / f"vulns-overview-{lang}.png")
    page.click(f".topnav a:has-text('{text['nav_vulnerabilities']}')")
    assert page.url == f"{plant.url}/vulnerabilities"
    print(f"/vulnerabilities ({lang}): {server_ms(page):.0f} ms at the server and over the wire")
    assert page.locator(".topnav a.active").inner_text() == text["nav_vulnerabilities"]
    assert page.locator("#by-cve tbody tr").evaluate_all("rows => rows.map(r => r.dataset.cve)") == [
        "CVE-2022-1161", "CVE-2024-6207"]
    row = page.locator("#by-cve tr[data-cve='CVE-2024-6207']")
    assert row.locator(".badge.cvss").inner_text() == "7.5"
    assert "ICSA-24-284-20" in row.inner_text()
    assert row.locator(".affected a").inner_text() == logix["ip"]
    assert row.locator(".confidence-family").inner_text() == text["vuln_confidence_family"]
    assert page.locator("#vuln-counts [data-severity=critical] strong").inner_text() == "1"
    assert page.locator("#vuln-counts [data-severity=high] strong").inner_text() == "1"
    assert fits(page)
    row.locator("details.remediation summary").click()
    assert "V33.017" in row.locator("details.remediation").inner_text()
    page.screenshot(path=screenshots / f"vulns-vulnerabilities-cve-{lang}.png", full_page=True)

    page.click(f"nav.ranges a[data-view=device]")
    devices = page.locator("#by-device tbody tr")
    assert devices.count() == 1 and devices.get_attribute("data-device") == logix["mac"]
    assert devices.locator(".chip").count() == 2
    assert fits(page)
    page.screenshot(path=screenshots / f"vulns-vulnerabilities-device-{lang}.png", full_page=True)

    devices.locator("a").click()
    assert page.url == f"{plant.url}/assets/{logix['mac']}"
    listed = page.locator("#device-vulns tbody tr").evaluate_all("rows => rows.map(r => r.dataset.cve)")
    assert listed == ["CVE-2022-1161", "CVE-2024-6207"]
    assert fits(page)
    page.locator("#device-vulns").screenshot(path=screenshots / f"vulns-asset-{lang}.png")
    assert errors == []
    context.close()


def test_other_tenant_sees_none(plant, page):
    log_in(page, plant.url, plant.globex_email)
    page.goto(f"{plant.url}/vulnerabilities")
    assert page.locator("#no-vulns").count() == 1
    assert page.locator("#vuln-counts [data-severity=devices] strong").inner_text() == "0"
