"""The asset ledger in a real browser: list, filter, sort, a PLC's detail, saving an annotation."""

from __future__ import annotations

from browsertest import collect_errors, follow, log_in, search
from browsershot import shoot

from dashboard.assets import COLUMNS
from dashboard.i18n import MESSAGES

JA = MESSAGES["ja"]
ROWS = "#ledger tbody tr"


def column(page, name: str) -> list[str]:
    """The texts of the ledger's column ``name`` (a key of dashboard.assets.COLUMNS)."""
    n = [key for key, _ in COLUMNS].index(name) + 1
    return page.locator(f"{ROWS} td:nth-child({n})").all_inner_texts()


def test_filter_open_a_plc_and_annotate_it(site, page, screenshots):
    errors = collect_errors(page)
    log_in(page, site.url, site.acme_email)
    follow(page, f".topnav a:has-text('{JA['nav_assets']}')")
    assert page.url == f"{site.url}/assets"
    assert page.locator(".topnav a.active").inner_text() == JA["nav_assets"]
    assert set(column(page, "ip")) >= {d["ip"] for d in site.devices}
    shoot(page, screenshots / "assets-ja.png", full_page=True)

    follow(page, "th a[data-sort=vendor]")  # sorting is the server's: the page reloads sorted
    assert page.locator("th[aria-sort=ascending] a").get_attribute("data-sort") == "vendor"
    vendors = [v for v in column(page, "vendor") if v]
    assert vendors == sorted(vendors)

    page.select_option("select[name=role]", "plc")
    follow(page, f"button:has-text('{JA['filter']}')")
    assert "role=plc" in page.url and "sort=vendor" in page.url  # the filter keeps the sort
    assert set(column(page, "role")) == {JA["role_plc"]}
    search(page, "rockwell")
    assert page.locator(ROWS).count() == 1
    logix = next(d for d in site.devices if d["name"] == "plc-logix-1")
    assert column(page, "ip") == [logix["ip"]]

    # Anywhere on the row opens it: the address link covers the row (force: Playwright sees the cover).
    follow(page, page.locator(ROWS).first.locator("td:nth-child(4)"), force=True)
    assert page.url == f"{site.url}/assets/{logix['mac']}"
    assert logix["ip"] in page.locator("h1").inner_text()
    assert page.locator(".topnav a.active").inner_text() == JA["nav_assets"]
    vendor_sources = page.locator("#attributes tbody[data-attribute=vendor] td.source").all_inner_texts()
    assert vendor_sources == ["enip", "oui"]  # every source, best first
    assert page.locator("#peers tbody tr").count() > 0
    page.wait_for_selector("#timeline .js-plotly-plot")
    assert page.locator("#timeline .js-plotly-plot").evaluate("el => el.data.length") > 0
    assert page.locator("#events tbody tr").count() > 0

    page.select_option("select[name=authorized]", "authorized")
    page.select_option("select[name=importance]", "critical")
    page.fill("input[name=tags]", "ライン1、press")
    page.fill("textarea[name=notes]", "Main line controller")
    follow(page, f"#annotation button:has-text('{JA['save']}')")
    assert page.url.endswith("?saved=1")
    assert page.locator(".notice").inner_text() == JA["saved"]

    page.goto(f"{site.url}/assets/{logix['mac']}")  # saved, not just echoed
    assert page.input_value("select[name=authorized]") == "authorized"
    assert page.input_value("select[name=importance]") == "critical"
    assert page.input_value("input[name=tags]") == "press, ライン1"
    assert page.input_value("textarea[name=notes]") == "Main line controller"
    assert page.locator(".subtitle .auth-authorized").inner_text() == JA["auth_authorized"]
    shoot(page, screenshots / "asset-plc-ja.png", full_page=True)

    follow(page, f".crumbs a:has-text('{JA['assets_title']}')")
    row = page.locator(f"{ROWS}[data-device='{logix['mac']}']")
    assert row.locator(".imp-critical").inner_text() == JA["importance_critical"]
    assert row.locator(".chip.tag").all_inner_texts() == ["press", "ライン1"]
    assert errors == []
