"""Fixtures for browser tests: the core app with the dashboard on a real uvicorn server, simulated
plant traffic ingested for tenant acme (globex has none), and Debian's Chromium via Playwright."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from core import accounts
from core.api.app import create_app
from core.config import Settings
from dashboard.routes import router
from sensor import pipeline, simulate, wire
from sensor.observe import Observer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"
PACKETS = 60_000  # about 3.5 minutes of the simulated plant: four one-minute batches


@dataclass
class Site:
    url: str
    password: str  # of every user
    acme_email: str
    globex_email: str
    devices: list[dict]  # the simulated plant's hosts (name, ip, mac, vendor)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _provision(app, name: str) -> tuple[str, str]:
    """Tenant ``name`` with one analyst and one sensor; returns (email, sensor token)."""
    with app.state.controlplane.sessions() as db:
        tenant = accounts.create_tenant(db, name)
        user = accounts.create_user(db, tenant, f"analyst@{name}.example", PASSWORD)
        _, token = accounts.create_sensor(db, tenant, f"SN-{name}", name=f"{name} plant")
        return user.email, token


def _ingest_simulated_plant(url: str, token: str, workdir: Path) -> list[dict]:
    """Simulate a capture, run it through the sensor pipeline and upload each batch."""
    pcap = workdir / "plant.pcap"
    summary = simulate.write_pcap(pcap, packets=PACKETS, seed=1)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for batch in pipeline.iter_batches([pcap], sensor="SN-acme", observer=Observer()):
            r = client.post("/api/v1/ingest", content=wire.encode(batch))
            assert r.status_code == 200, r.text
    return summary["devices"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    workdir = tmp_path_factory.mktemp("site")
    app = create_app(Settings(data_dir=workdir))
    app.include_router(router)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{port}"
        acme_email, acme_token = _provision(app, "acme")
        globex_email, _ = _provision(app, "globex")
        yield Site(url, PASSWORD, acme_email, globex_email, _ingest_simulated_plant(url, acme_token, workdir))
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def browser():
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
