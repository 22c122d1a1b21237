"""The dashboard in a real browser: login, charts with data, language switch, CSRF, tenant isolation."""

from __future__ import annotations

import re

from browsertest import collect_errors, follow, log_in
from browsershot import shoot
from coretest import PASSWORD

from dashboard.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]

# Number of points in each plotly trace of a chart, and whether any y value is non-zero.
TRACE_POINTS = """el => el.data.map(trace => ({
    points: trace.x.length,
    nonzero: Array.from(trace.orientation === 'h' ? trace.x : trace.y).some(v => v > 0),
}))"""


def test_overview_shows_charts_and_assets(site, page, screenshots):
    errors = collect_errors(page)

    page.goto(site.url)
    assert page.url == f"{site.url}/login"  # not logged in → login page
    log_in(page, site.url, site.acme_email)
    assert page.url == f"{site.url}/"
    assert page.locator("h1").inner_text() == JA["overview_title"]  # Japanese by default

    page.wait_for_selector("#talkers .js-plotly-plot")
    for chart in ("traffic", "protocols", "talkers"):
        traces = page.locator(f"#{chart} .js-plotly-plot").evaluate(TRACE_POINTS)
        assert traces and all(t["points"] > 0 for t in traces), chart
        assert any(t["nonzero"] for t in traces), chart
    assert len(page.locator("#traffic .js-plotly-plot").evaluate("el => el.data")) == 2  # bytes, packets

    asset_ips = page.locator("#assets tbody tr td:first-child").all_inner_texts()
    for device in site.devices:
        assert device["ip"] in asset_ips, device
    assert page.locator("#sensors tbody tr").count() == 1
    assert "SN-acme" in page.locator("#sensors").inner_text()
    assert errors == []  # no script errors, nothing blocked by the CSP

    shoot(page, screenshots / "overview-ja.png", full_page=True)


def test_language_switch(site, page, screenshots):
    log_in(page, site.url, site.acme_email)
    follow(page, "a[data-lang=en]")
    page.wait_for_selector("#talkers .js-plotly-plot")
    assert page.locator("h1").inner_text() == EN["overview_title"]
    assert page.locator("#assets h2").inner_text() == EN["assets"]
    assert page.locator("html").get_attribute("lang") == "en"
    shoot(page, screenshots / "overview-en.png", full_page=True)

    page.goto(site.url)  # the choice sticks (cookie)
    assert page.locator("h1").inner_text() == EN["overview_title"]
    follow(page, "a[data-range='1h']")
    assert "range=1h" in page.url and page.locator("a[data-range='1h']").get_attribute("aria-current") == "true"
    page.wait_for_selector("#traffic .js-plotly-plot")
    shoot(page.locator("#traffic"), screenshots / "traffic-1h.png")

    follow(page, "a[data-lang=ja]")
    assert page.locator("h1").inner_text() == JA["overview_title"]
    assert "range=1h" in page.url  # switching language keeps the window


def test_wrong_password_shows_generic_error(site, page, screenshots):
    log_in(page, site.url, site.acme_email, "not the password")
    assert page.url == f"{site.url}/login"
    assert page.locator(".alert").inner_text() == JA["login_failed"]
    assert page.input_value("input[name=email]") == site.acme_email
    shoot(page, screenshots / "login-error.png")

    log_in(page, site.url, "nobody@nowhere.example")  # unknown user: the same message
    assert page.locator(".alert").inner_text() == JA["login_failed"]


def test_post_without_csrf_token_is_rejected(site, page):
    page.goto(f"{site.url}/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.fill("input[name=email]", site.acme_email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 403
    assert page.locator(".alert").inner_text() == JA["csrf_failed"]
    assert not any(c["name"] == "mieruka_session" for c in page.context.cookies())

    # Logged in, a forged logout (no token) leaves the session alone.
    log_in(page, site.url, site.acme_email)
    status = page.evaluate(
        "url => fetch(url, {method: 'POST', body: new URLSearchParams({csrf_token: 'forged'})}).then(r => r.status)",
        f"{site.url}/logout",
    )
    assert status == 403
    page.goto(site.url)
    assert page.url == f"{site.url}/"

    follow(page, "button:has-text('%s')" % JA["logout"])  # the real form carries the token
    assert page.url == f"{site.url}/login"


def test_other_tenant_sees_none_of_acme(site, page, screenshots):
    log_in(page, site.url, site.globex_email)
    assert page.url == f"{site.url}/"
    body = page.locator("main").inner_text()
    assert "SN-acme" not in body and "SN-globex" in body
    assert not re.search(r"10\.10\.0\.\d+", page.content())  # none of the plant's addresses
    assert page.locator(".js-plotly-plot").count() == 0
    assert page.locator("#assets .empty").inner_text() == JA["no_assets"]
    assert page.locator("#traffic .empty").inner_text() == JA["no_data"]
    assert page.locator("#sensors").get_by_text(JA["never"]).count() == 1
    shoot(page, screenshots / "overview-empty.png", full_page=True)
