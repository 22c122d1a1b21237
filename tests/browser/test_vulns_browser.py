"""The vulnerabilities page in Chromium on the simulated plant with the shared CISA advisories
imported: by CVE and by device, the device page's list, the overview's count; ja and en at 1366 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from browsertest import collect_errors, follow, log_in
from browsershot import shoot

from core.vulns.store import import_path
from dashboard.i18n import MESSAGES

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")
WIDTH = 1366


@pytest.fixture(scope="module")
def plant(site):
    """The simulated plant with the advisories imported. Its ControlLogix 5580 (CIP List Identity:
    1756-L83E/B, revision 33.11) matches by family; among the devices that state model and firmware,
    the Hikvision camera (ONVIF: DS-2CD2132FWD-IS, V5.4.0 build 160530) matches ICSA-17-124-01 and
    the Panasonic one (VCC-HD5600P, 2.03-06) ICSA-23-012-04 exactly."""
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
    logix, hik, ipro = (next(d for d in plant.devices if d["name"] == name)
                        for name in ("plc-logix-1", "cam-hik-1", "cam-ipro-1"))

    kpi = int(page.locator("#vuln-kpi strong").inner_text())
    assert fits(page)
    shoot(page.locator(".kpis"), screenshots / f"vulns-overview-{lang}.png")
    follow(page, f".topnav a:has-text('{text['nav_vulnerabilities']}')")
    assert page.url == f"{plant.url}/vulnerabilities"
    print(f"/vulnerabilities ({lang}): {server_ms(page):.0f} ms at the server and over the wire")
    assert page.locator(".topnav a.active").inner_text() == text["nav_vulnerabilities"]
    cves = page.locator("#by-cve tbody tr").evaluate_all("rows => rows.map(r => r.dataset.cve)")
    assert len(cves) == kpi and {"CVE-2022-1161", "CVE-2024-6207", "CVE-2017-7921", "CVE-2017-7923",
                                 "CVE-2022-4621"} <= set(cves)
    scores = [float(s) for s in page.locator("#by-cve tbody tr .badge.cvss").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)  # the worst first
    for cve, advisory, cvss, camera in (("CVE-2017-7921", "ICSA-17-124-01", "10.0", hik),
                                        ("CVE-2022-4621", "ICSA-23-012-04", "7.5", ipro)):
        row = page.locator(f"#by-cve tr[data-cve='{cve}']")
        assert (row.locator(".badge.cvss").inner_text(), row.locator(".affected a").inner_text()) == (cvss, camera["ip"])
        assert advisory in row.inner_text()
        assert row.locator(".confidence-exact").inner_text() == text["vuln_confidence_exact"]
    row = page.locator("#by-cve tr[data-cve='CVE-2024-6207']")
    assert row.locator(".badge.cvss").inner_text() == "7.5"
    assert "ICSA-24-284-20" in row.inner_text()
    assert row.locator(".affected a").inner_text() == logix["ip"]
    assert row.locator(".confidence-family").inner_text() == text["vuln_confidence_family"]
    # CVSS v3 ranges: critical from 9.0, high from 7.0
    assert page.locator("#vuln-counts [data-severity=critical] strong").inner_text() == str(
        sum(s >= 9.0 for s in scores))
    assert page.locator("#vuln-counts [data-severity=high] strong").inner_text() == str(
        sum(7.0 <= s < 9.0 for s in scores))
    assert fits(page)
    row.locator("details.remediation summary").click()
    assert "V33.017" in row.locator("details.remediation").inner_text()
    shoot(page, screenshots / f"vulns-vulnerabilities-cve-{lang}.png", full_page=True)

    follow(page, "nav.ranges a[data-view=device]")
    listed = page.locator("#by-device tbody tr").evaluate_all("rows => rows.map(r => r.dataset.device)")
    assert {logix["mac"], hik["mac"], ipro["mac"]} <= set(listed)
    assert str(len(listed)) == page.locator("#vuln-counts [data-severity=devices] strong").inner_text()
    chips = {d["mac"]: page.locator(f"#by-device tr[data-device='{d['mac']}'] .chip").all_inner_texts()
             for d in (logix, hik, ipro)}
    assert chips == {logix["mac"]: ["CVE-2022-1161 10.0", "CVE-2024-6207 7.5"],
                     hik["mac"]: ["CVE-2017-7921 10.0", "CVE-2017-7923 8.8"], ipro["mac"]: ["CVE-2022-4621 7.5"]}
    devices = page.locator(f"#by-device tr[data-device='{logix['mac']}']")
    assert fits(page)
    shoot(page, screenshots / f"vulns-vulnerabilities-device-{lang}.png", full_page=True)

    follow(page, devices.locator("a"))
    assert page.url == f"{plant.url}/assets/{logix['mac']}"
    listed = page.locator("#device-vulns tbody tr").evaluate_all("rows => rows.map(r => r.dataset.cve)")
    assert listed == ["CVE-2022-1161", "CVE-2024-6207"]
    assert fits(page)
    shoot(page.locator("#device-vulns"), screenshots / f"vulns-asset-{lang}.png")
    assert errors == []
    context.close()


def test_other_tenant_sees_none(plant, page):
    log_in(page, plant.url, plant.globex_email)
    page.goto(f"{plant.url}/vulnerabilities")
    assert page.locator("#no-vulns").count() == 1
    assert page.locator("#vuln-counts [data-severity=devices] strong").inner_text() == "0"
