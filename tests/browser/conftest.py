"""Fixtures for browser tests: the core app (dashboard mounted by its entry point) on a real uvicorn
server, simulated plant traffic ingested for tenant acme (globex has none), Debian's Chromium."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from coretest import LiveServer, post_batch, provision
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PACKETS = 60_000  # about 3.5 minutes of the simulated plant: four one-minute batches


@dataclass
class Site:
    url: str
    acme_email: str
    globex_email: str
    acme_sensor_token: str
    devices: list[dict]  # the simulated plant's hosts (name, ip, mac, vendor)
    app: object  # the app behind url, for stores a test fills directly (e.g. imported advisories)


def _ingest_simulated_plant(url: str, token: str, workdir: Path) -> list[dict]:
    """Simulate a capture, run it through the sensor pipeline and upload each batch."""
    pcap = workdir / "plant.pcap"
    summary = simulate.write_pcap(pcap, packets=PACKETS, seed=1)
    with httpx.Client(base_url=url) as client:
        for batch in pipeline.iter_batches([pcap], sensor="SN-acme", observer=Observer()):
            r = post_batch(client, token, wire.encode(batch))
            assert r.status_code == 200, r.text
    return summary["devices"]


@pytest.fixture(scope="module")  # not session: chDB holds one data path per process, later tests need theirs
def site(tmp_path_factory) -> Site:
    workdir = tmp_path_factory.mktemp("site")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme, globex = provision(live.app, "acme"), provision(live.app, "globex")
        devices = _ingest_simulated_plant(live.url, acme.sensor_token, workdir)
        yield Site(live.url, acme.email, globex.email, acme.sensor_token, devices, live.app)


@pytest.fixture(scope="module")  # not session: a live sync Playwright keeps its event loop running,
def browser():                   # and a later test elsewhere that starts its own would be refused
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) per test, 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Kept after the run (pytest rotates its own temp dirs) for a human to look at."""
    path = Path(tempfile.gettempdir()) / "mieruka-screenshots"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def signed_in(site, browser):
    """One logged-in context for a module at 1366 px (a login per test would meet the login throttle)."""
    from browsertest import log_in

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    log_in(context.new_page(), site.url, site.acme_email)
    yield context
    context.close()


@pytest.fixture
def signed_page(signed_in):
    """A new page of the module's logged-in context."""
    page = signed_in.new_page()
    yield page
    page.close()
