"""Admin pages in Chromium at 1366 px, Japanese and English: an admin disables a user, issues and
revokes a token and reads the audit log; the login page says when attempts are throttled."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from browsertest import collect_errors, follow, log_in
from coretest import LiveServer, add_user, provision
from storetemplate import migrated
from browsershot import shoot

from core.api.app import create_app
from core.config import Settings
from dashboard.i18n import MESSAGES

BOSS = "boss@acme.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("admin"))))) as live:
        live.acme = provision(live.app, "acme")
        provision(live.app, "globex")
        add_user(live.app, "acme", BOSS, "admin")
        yield live


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_admin_pages(server, wide, screenshots, lang):
    t = MESSAGES[lang]
    page = wide
    errors = collect_errors(page)
    log_in(page, server.url, BOSS)
    page.goto(f"{server.url}/admin/users?lang={lang}")
    assert page.locator("h1").inner_text() == t["nav_admin_users"]
    assert page.locator("nav.topnav a.active").inner_text() == t["nav_admin"]
    assert page.locator(".admintabs a.current").inner_text() == t["nav_admin_users"]
    row = page.locator(f"tr[data-user='{server.acme.email}']")
    follow(page, row.locator("button[data-action=disable]"))
    assert page.locator("#done").inner_text() == t["done_user_disabled"]
    assert row.locator("[data-col=state]").inner_text().strip() == t["state_disabled"]
    shoot(page, screenshots / f"admin-users-{lang}.png", full_page=True)
    follow(page, row.locator("button[data-action=enable]"))

    follow(page, ".admintabs a[data-tab=admin_tokens]")
    page.fill("#add-token input[name=name]", f"grafana-{lang}")
    follow(page, "#add-token button[type=submit]")
    assert page.locator("#new-token code").inner_text().startswith("mka_")
    shoot(page, screenshots / f"admin-tokens-{lang}.png", full_page=True)

    follow(page, ".admintabs a[data-tab=admin_audit]")
    assert page.locator("nav.topnav a.active").inner_text() == t["nav_admin"]
    page.fill("#audit-filter input[name=action]", "user.")
    follow(page, "#audit-filter button[type=submit]")
    actions = page.locator("#audit tbody tr td:nth-child(3)").all_inner_texts()
    assert actions[:2] == ["user.enable", "user.disable"]
    page.goto(f"{server.url}/admin/audit")
    shoot(page, screenshots / f"admin-audit-{lang}.png", full_page=True)
    follow(page, ".admintabs a[data-tab=admin_export]")
    assert page.locator("#export-tables tbody tr").count() >= 10  # every table of the tenant, with its rows
    with page.expect_download() as download:
        page.click("#export-download")
    assert download.value.suggested_filename.startswith("mieruka-acme-")
    shoot(page, screenshots / f"admin-export-{lang}.png", full_page=True)
    assert errors == []


def test_throttled_login_says_so(server, wide, screenshots):
    """The sixth try, even with the right password, is told the account is locked and until when."""
    page = wide
    for _ in range(5):
        log_in(page, server.url, BOSS, "not the password")
    log_in(page, server.url, BOSS)  # the right password
    text = page.locator(".alert").inner_text()
    retry = re.search(r"\d\d:\d\d JST", text)
    assert retry and text == MESSAGES["ja"]["login_locked"].format(minutes=15, time=retry.group(0))
    shoot(page, screenshots / "login-locked-ja.png")
    page.goto(server.url + "/login?lang=en")
    log_in(page, server.url, BOSS, "not the password")
    text = page.locator(".alert").inner_text()
    # the same pause; its end is shown rounded up to the minute from now and a whole second's wait, so either
    # answer may name the minute after the other's (both are times after which a login is let through)
    ja_until = datetime.strptime(retry.group(0), "%H:%M JST")
    assert text in [MESSAGES["en"]["login_locked"].format(minutes=15, time=(ja_until + timedelta(minutes=m))
                                                          .strftime("%H:%M JST")) for m in (-1, 0, 1)], text
    shoot(page, screenshots / "login-locked-en.png")
