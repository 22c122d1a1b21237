"""The ledger and a device's page in a real browser at laptop widths (issue 14, faults 3, 5 and 9):
the assets table fits, headings do not wrap a character a line, the timeline's ticks show times."""

from __future__ import annotations

import re

import pytest
from browsertest import collect_errors
from browsershot import shoot

FITS = [(1366, "ja"), (1366, "en"), (1440, "en")]
# The right edge of the ledger's card and of its last-seen column, and the viewport's width.
MEASURE = """() => {
  const card = document.querySelector('#ledger .scroll');
  const last = document.querySelector('#ledger th:last-child');
  return {card: card.scrollWidth, client: card.clientWidth, width: window.innerWidth,
          page: document.documentElement.scrollWidth, last: last.getBoundingClientRect().right};
}"""
# Each cell's height in lines of its own text (the cells a selector names).
LINES = """selector => [...document.querySelectorAll(selector)].map(th => {
  const style = getComputedStyle(th);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
  const range = document.createRange(); range.selectNodeContents(th);
  return [th.innerText.trim(), Math.round(range.getBoundingClientRect().height / line)];
})"""


def _open(page, site, width: int, lang: str, path: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site.url}{path}{'&' if '?' in path else '?'}lang={lang}")


@pytest.mark.parametrize(("width", "lang"), FITS)
def test_the_assets_table_fits_with_both_time_columns(site, signed_page, screenshots, width, lang):
    page = signed_page
    errors = collect_errors(page)
    _open(page, site, width, lang, "/assets")
    shoot(page, screenshots / f"f14-assets-{lang}-{width}.png")
    m = page.evaluate(MEASURE)
    assert m["page"] <= m["width"] and m["card"] <= m["client"], m  # nothing scrolls sideways
    assert m["last"] <= m["width"], m  # last seen is on screen
    wrapped = [(text, lines) for text, lines in page.evaluate(LINES, "thead th") if lines > 2]
    assert wrapped == []  # no heading a character (or a word) a line
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_short_timeline_ticks_show_the_clock_and_the_date_once(site, signed_page, screenshots, lang):
    page = signed_page
    errors = collect_errors(page)
    plc = next(d for d in site.devices if d["name"] == "plc-logix-1")  # minutes of CIP events
    _open(page, site, 1366, lang, f"/assets/{plc['mac']}")
    page.wait_for_selector("#timeline .xtick text")
    shoot(page, screenshots / f"f14-device-{lang}-1366.png", full_page=True)
    ticks = page.locator("#timeline .xtick text").evaluate_all(
        "texts => texts.map(t => [...t.querySelectorAll('tspan.line')].map(l => l.textContent))"
        " .map((lines, i) => lines.length ? lines : [texts[i].textContent])")
    clocks = [lines[0] for lines in ticks]
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", c) for c in clocks), ticks
    assert len(set(clocks)) == len(clocks)  # each tick its own time
    dates = [line for lines in ticks for line in lines[1:]]
    assert dates and len(dates) == len(set(dates)), ticks  # the date under the first tick, not on each
    wrapped = [(text, lines) for text, lines in page.evaluate(LINES, "#events td.fn") if lines > 1]
    assert wrapped == []  # a function's name (タグ読出し ×221) on one line
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("path", ["/", "/sensors", "/alerts"])
def test_pages_fit_1366_with_headings_whole(site, signed_page, screenshots, path, lang):
    page = signed_page
    errors = collect_errors(page)
    _open(page, site, 1366, lang, path)
    shoot(page, screenshots / f"f14-{path.strip('/') or 'overview'}-{lang}-1366.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    wrapped = [(text, lines) for text, lines in page.evaluate(LINES, "thead th") if lines > 2]
    assert wrapped == []  # no heading a character a line
    assert errors == []
