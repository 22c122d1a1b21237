"""The Report page in Chromium at 1366 px on the simulated plant: an analyst reaches it from the
navigation, downloads the PDF in Japanese, switches the page to English and downloads the HTML
report in English; the form and the HTML report (its SVG charts drawn) are screenshotted in both
languages and fit the width."""

from __future__ import annotations

from browsertest import collect_errors, follow, log_in
from browsershot import shoot

from dashboard.i18n import MESSAGES

WIDTH = 1366
JA, EN = MESSAGES["ja"], MESSAGES["en"]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def download(page, tmp_path, language: str, fmt: str):
    page.select_option("select[name=language]", language)
    page.select_option("select[name=format]", fmt)
    with page.expect_download() as info:
        page.click("#report-download")
    saved = tmp_path / language / info.value.suggested_filename  # the name is the same in both languages
    saved.parent.mkdir(exist_ok=True)
    info.value.save_as(saved)
    return saved


def look_at_report(browser, path, name: str, screenshots) -> None:
    """Open a downloaded HTML report as a file and check its charts drew."""
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.goto(path.as_uri())
    assert page.locator("svg.chart rect").count() > 5
    assert page.locator("#key-figures tbody tr").count() >= 9
    assert fits(page)
    shoot(page, screenshots / name, full_page=True)
    context.close()


def test_download_the_report_in_both_languages(site, browser, screenshots, tmp_path):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="ja-JP", accept_downloads=True)
    page = context.new_page()
    errors = collect_errors(page)
    log_in(page, site.url, site.acme_email)

    follow(page, f".topnav a:has-text('{JA['nav_report']}')")
    assert page.url == f"{site.url}/report"
    assert page.locator("h1").inner_text() == JA["report_title"]
    assert page.locator(".topnav a.active").inner_text() == JA["nav_report"]
    start, end = page.input_value("input[name=start]"), page.input_value("input[name=end]")
    assert start < end
    assert fits(page)
    shoot(page, screenshots / "report-form-ja.png", full_page=True)

    pdf = download(page, tmp_path, "ja", "pdf")
    assert pdf.name == f"assessment-acme-{start.replace('-', '')}-{end.replace('-', '')}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    html_ja = download(page, tmp_path, "ja", "html")
    assert "セキュリティ・アセスメントレポート" in html_ja.read_text()

    follow(page, "a[data-lang=en]")
    assert page.locator("h1").inner_text() == EN["report_title"]
    assert page.input_value("select[name=language]") == "en"  # the page's language by default
    assert fits(page)
    shoot(page, screenshots / "report-form-en.png", full_page=True)
    html_en = download(page, tmp_path, "en", "html")
    text = html_en.read_text()
    assert "Security assessment report" in text
    for device in site.devices:
        assert device["ip"] in text, device
    assert errors == []
    context.close()

    assert "セキュリティ・アセスメントレポート" in html_ja.read_text()  # not overwritten by the English one
    look_at_report(browser, html_ja, "report-document-ja.png", screenshots)
    look_at_report(browser, html_en, "report-document-en.png", screenshots)
