"""`mieruka demo`: the whole system on 127.0.0.1 with embedded storage.

Starts the core (API + dashboard) on a fresh data directory, provisions a demo tenant, analyst and
sensor, then runs a real `mieruka-sensor` process that simulates a plant capture ending now and
replays it through the spool and uplink into the core. Prints the URL and the login.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn

from core.access import accounts
from core.api.app import create_app
from core.config import Settings
from core.detect.indicators import import_file
from core.vulns.store import import_path

TENANT = "demo"
EMAIL = "analyst@demo.example"
SERIAL = "DEMO-0001"
SIM_PPS = 300  # simulated packets per second of capture time (see sensor.simulate)
LEARN_SHARE = 0.5  # the simulated plant's first half is normal traffic (sensor.simulate.LEARN_FRACTION)
# Public CISA advisories (CSAF 2.0) beside the checkout, imported when there.
ADVISORIES = Path(__file__).resolve().parents[2] / "shared" / "advisories" / "csaf"


def _sensor_cli() -> str:
    return str(Path(sys.executable).parent / "mieruka-sensor")


def _start_server(settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                       server_header=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(
                f"error: the core did not start on {settings.host}:{settings.port}"
            )
        time.sleep(0.05)
    return server, thread


def _provision(app, password: str, packets: int) -> tuple[int, str]:
    """The demo tenant's id and its sensor's token."""
    with app.state.controlplane.sessions() as db:
        tenant = accounts.create_tenant(db, TENANT, actor="demo")
        # learn on the normal first half, so the incidents that follow raise alerts
        tenant.learning_hours = packets / SIM_PPS * LEARN_SHARE / 3600
        accounts.create_user(db, tenant, EMAIL, password, role="analyst", actor="demo")
        _, token = accounts.create_sensor(
            db, tenant, SERIAL, name="Demo plant sensor", actor="demo"
        )
    return tenant.id, token


def _run_sensor(app, tenant_id: int, url: str, token: str, workdir: Path, packets: int, seed: int) -> None:
    """Simulate the plant, import the indicators its incidents match, replay it through a sensor."""
    capture = workdir / "plant.pcap"
    start = time.time() - packets / SIM_PPS
    cli = _sensor_cli()
    subprocess.run(
        [
            cli,
            "simulate",
            "--out",
            str(capture),
            "--packets",
            str(packets),
            "--seed",
            str(seed),
            "--start",
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)),
            "--indicators",
            str(workdir / "indicators.csv"),
        ],
        check=True,
    )
    import_file(app.state.clickhouse, workdir / "indicators.csv", tenant_id)
    subprocess.run(
        [
            cli,
            "replay",
            str(capture),
            "--core",
            url,
            "--token",
            token,
            "--serial",
            SERIAL,
            "--spool",
            str(workdir / "spool"),
        ],
        check=True,
    )


def run_demo(
    data_dir: Path, host: str, port: int, packets: int, seed: int, wait: bool = True
) -> str:
    """Run the demo; returns the dashboard URL (blocks serving until Ctrl-C when `wait`)."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    settings = Settings(data_dir=data_dir, host=host, port=port)
    server, thread = _start_server(settings)
    url = f"http://{host}:{port}"
    password = secrets.token_urlsafe(12)
    tenant_id, token = _provision(server.config.app, password, packets)
    if ADVISORIES.is_dir():
        imported = import_path(server.config.app.state.clickhouse, ADVISORIES).imported
        print(f"imported {len(imported)} advisories from {ADVISORIES}", flush=True)
    print(
        f"core listening on {url}; replaying {packets} simulated packets through a sensor…",
        flush=True,
    )
    _run_sensor(server.config.app, tenant_id, url, token, data_dir, packets, seed)
    print(
        f"\nmieruka demo is ready: {url}/\n  login: {EMAIL}\n  password: {password}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    if wait:
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(timeout=20)
    return url
