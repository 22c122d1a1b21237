"""Helpers for browser tests."""

from __future__ import annotations

from pathlib import Path

import httpx
from coretest import PASSWORD, Tenant, post_batch, provision

from core.store.controlplane import Tenant as TenantRow
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer


def log_in(page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    follow(page, "button[type=submit]")


def follow(page, target, **options) -> None:
    """Click ``target`` (a selector or a locator) that opens a page and wait until that page has loaded:
    the click returns once the navigation commits, when the new document may still be parsing, and
    reads that do not wait (count, all_inner_texts, evaluate_all) would see half a table."""
    with page.expect_navigation():
        if isinstance(target, str):
            page.click(target, **options)
        else:
            target.click(**options)


def search(page, text: str) -> None:
    """Type ``text`` into the page's search box and wait until the results page has loaded: the
    press returns once navigation starts, when the new table may still be empty."""
    page.fill("input[name=q]", text)
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")


def collect_errors(page) -> list[str]:
    """Script errors and console errors (e.g. something the CSP blocked) the page reports from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def ingest_plant(client: httpx.Client, token: str, path: Path, start: float, risky: bool) -> None:
    """Simulate 30,000 packets of the plant from ``start`` (with its incidents when ``risky``) into
    ``path`` and upload them through the sensor pipeline."""
    simulate.write_pcap(path, packets=30_000, seed=5, start=start, risky=risky)
    for batch in pipeline.iter_batches([path], sensor="SN-acme", observer=Observer()):
        assert post_batch(client, token, wire.encode(batch)).status_code == 200


def provision_learning(app, name: str = "acme", hours: float = 1) -> Tenant:
    """A tenant whose detection learns ``hours`` of data (the plant's safe capture) before alerting."""
    tenant = provision(app, name)
    with app.state.controlplane.session() as db:
        db.get(TenantRow, tenant.id).learning_hours = hours
    return tenant
