"""The forwarding page (/forwarding) in Chromium: each destination with its queue, last success and
failure, secrets shown only as "set", both languages at 1366 px; analysts and admins only."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from coretest import PASSWORD, add_user, provision
from runtest import eventually, free_port
from test_forward import SECRET, WebhookReceiver, add, alert, enqueue
from browsershot import shoot

from dashboard.i18n import MESSAGES

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_forwarding_page(live, browser):
    acme = provision(live.app, "acme")
    add_user(live.app, "acme", "bill@acme.example", "billing")
    add_user(live.app, "acme", "admin@acme.example", "admin")
    cp = live.app.state.controlplane
    hook = WebhookReceiver()
    add(cp, acme.id, "soc-webhook", f"http://127.0.0.1:{hook.port}/hooks/0123456789abcdef", "json", secret=SECRET)
    add(cp, acme.id, "qradar", f"tcp://127.0.0.1:{free_port()}", "leef", min_severity="high")  # nobody listens
    enqueue(cp, acme.id, [alert(n) for n in range(3)])
    eventually(lambda: len(hook.bodies) == 3, 20)  # the app's worker delivered to the webhook...

    def failed() -> bool:  # ...and failed on the syslog receiver
        page_html = httpx.get(f"{live.url}/forwarding", cookies=cookies).text
        return "Connection refused" in page_html

    shots = Path(tempfile.gettempdir()) / "mieruka-screenshots"
    shots.mkdir(exist_ok=True)
    context, page = logged_in(browser, live.url, acme.email)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    eventually(failed, 20)
    page.click(f".topnav a:has-text('{MESSAGES['ja']['nav_forwarding']}')")  # reached from the navigation
    assert page.url == f"{live.url}/forwarding"
    for lang in ("ja", "en"):
        m = MESSAGES[lang]
        page.goto(f"{live.url}/forwarding?lang={lang}")
        assert page.locator(".topnav a.active").inner_text() == m["nav_forwarding"]
        assert page.locator("h1").inner_text() == m["forwarding_title"]
        qradar, webhook = page.locator("tr[data-destination=qradar]"), page.locator("tr[data-destination=soc-webhook]")
        assert qradar.locator("[data-col=queued]").inner_text().startswith("3")
        assert "Connection refused" in qradar.locator("[data-col=last-failure]").inner_text()
        assert qradar.get_attribute("class") == "stale" and page.locator("#failing-count").is_visible()
        assert webhook.locator("[data-col=queued]").inner_text() == "0"
        assert webhook.locator("[data-col=last-success]").inner_text() != "–"
        assert m["forwarding_secret_set"] in webhook.inner_text()
        html = page.content()
        assert SECRET not in html and "0123456789abcdef" not in html
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # fits without scrolling sideways
        shoot(page, str(shots / f"forwarding-{lang}.png"), full_page=True)
    context.close()
    hook.stop()

    context, page = logged_in(browser, live.url, "admin@acme.example")  # the longest navigation
    page.goto(f"{live.url}/forwarding?lang=en")
    assert page.locator(".topnav a.active").inner_text() == MESSAGES["en"]["nav_forwarding"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    shoot(page, str(shots / "forwarding-admin-en.png"))
    context.close()

    context, page = logged_in(browser, live.url, "bill@acme.example")
    assert page.goto(f"{live.url}/forwarding").status == 403
    assert page.locator(".topnav a[href='/forwarding']").count() == 0
    assert page.locator("[role=alert]").inner_text() == MESSAGES["ja"]["forwarding_forbidden"]
    context.close()
    assert httpx.get(f"{live.url}/forwarding", follow_redirects=False).status_code == 303


def logged_in(browser, url: str, email: str):
    context = browser.new_context(viewport={"width": 1366, "height": 700}, locale="ja-JP")
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():  # the click may return before the signed-in page has loaded
        page.click("button[type=submit]")
    return context, page
