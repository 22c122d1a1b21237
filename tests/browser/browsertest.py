"""Helpers for browser tests."""

from __future__ import annotations

from coretest import PASSWORD


def log_in(page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def collect_errors(page) -> list[str]:
    """Script errors and console errors (e.g. something the CSP blocked) the page reports from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
