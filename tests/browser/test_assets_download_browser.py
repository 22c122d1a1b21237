"""Issue 14 item 10 in Chromium at 1366 px: the ledger offers its CSV for Excel (with a BOM) or as
plain UTF-8, and what downloads is the table on screen, in the page's language."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from browsertest import log_in
from browsershot import shoot

from dashboard.i18n import MESSAGES

ROWS = "#ledger tbody tr"


@pytest.fixture
def wide(browser):
    """1366 px, downloads kept."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP", accept_downloads=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_download_choice_gives_the_table_on_screen(site, wide, screenshots, lang):
    page = wide
    log_in(page, site.url, site.acme_email)
    page.goto(f"{site.url}/assets?lang={lang}&sort=ip&order=asc")
    texts = MESSAGES[lang]
    choice = page.locator(".download")
    assert choice.locator("a").all_inner_texts() == [texts["csv_excel"], texts["csv_utf8"]]
    shoot(page, screenshots / f"assets-download-{lang}.png")
    shown_ips = page.locator(f"{ROWS} td:nth-child(1)").all_inner_texts()
    shown_roles = page.locator(f"{ROWS} td:nth-child(3)").all_inner_texts()
    files = {}
    for encoding in ("excel", "utf8"):
        with page.expect_download() as download:
            page.click(f"#csv-{encoding}")
        files[encoding] = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == "assets.csv"
    assert files["excel"].startswith(codecs.BOM_UTF8) and not files["utf8"].startswith(codecs.BOM_UTF8)
    header, *rows = list(csv.reader(io.StringIO(files["excel"].decode("utf-8-sig"))))
    assert header[:4] == [texts["ip"], texts["mac"], texts["role"], texts["risk"]]
    assert [r[0] for r in rows] == shown_ips and [r[2] for r in rows] == [r.strip() for r in shown_roles]
    assert texts["role_plc"] in (r[2] for r in rows)
