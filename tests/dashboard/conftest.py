"""Fixtures for dashboard page tests: the real core app (chDB + SQLite in a temp dir) with the
dashboard mounted, and tenants with a small hand-made batch each (or none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from core import accounts
from core.api.app import create_app
from core.config import Settings
from dashboard.routes import router
from sensor import wire

PASSWORD = "correct horse battery"
T0 = datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc)  # 12:00 in Tokyo


@dataclass
class Account:
    email: str
    password: str
    sensor_token: str


def _provision(app, name: str) -> Account:
    with app.state.controlplane.sessions() as db:
        tenant = accounts.create_tenant(db, name)
        user = accounts.create_user(db, tenant, f"analyst@{name}.example", PASSWORD)
        _, token = accounts.create_sensor(db, tenant, f"SN-{name}", name=f"{name} line 1")
        return Account(user.email, PASSWORD, token)


def _flow(orig_h: str, resp_h: str, service: str, nbytes: int, start: datetime) -> dict:
    return dict(
        ts=start, ts_end=start + timedelta(seconds=30), uid=f"C{orig_h}{resp_h}", community_id="1:x", vlan=0,
        orig_h=orig_h, orig_p=50000, resp_h=resp_h, resp_p=502, proto="tcp", ethertype=0x0800,
        service=service, duration=30.0, orig_bytes=nbytes // 2, resp_bytes=nbytes // 2, orig_pkts=5,
        resp_pkts=5, orig_ip_bytes=nbytes // 2, resp_ip_bytes=nbytes // 2, conn_state="S1", history="ShAD",
        orig_l2_addr="", resp_l2_addr="", final=False,
    )


def plant_batch(subnet: str, start: datetime = T0) -> bytes:
    """One minute of Modbus and HTTP among ``subnet``.1-3, and vendor/hostname facts for .2."""
    flows = [
        _flow(f"{subnet}.1", f"{subnet}.2", "modbus", 7000, start),
        _flow(f"{subnet}.3", f"{subnet}.2", "http", 3000, start),
    ]
    observations = [
        dict(ts=start, mac="00:1b:1b:00:00:02", ip=f"{subnet}.2", attribute=attribute, value=value,
             source="dhcp", confidence=90)
        for attribute, value in (("vendor", "Siemens"), ("hostname", f"plc-{subnet}"))
    ]
    tables = {
        "flows": wire.table_from_rows("flows", flows),
        "events": wire.empty_table("events"),
        "observations": wire.table_from_rows("observations", observations),
    }
    return wire.encode(wire.Batch(start, start + timedelta(minutes=1), tables, {"packets": 20}))


@pytest.fixture
def client(tmp_path):
    """TestClient on the started core app with the dashboard router mounted."""
    app = create_app(Settings(data_dir=tmp_path))
    app.include_router(router)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _tenant_with_data(client, name: str, subnet: str) -> Account:
    account = _provision(client.app, name)
    headers = {"Authorization": f"Bearer {account.sensor_token}"}
    r = client.post("/api/v1/ingest", content=plant_batch(subnet), headers=headers)
    assert r.status_code == 200, r.text
    return account


@pytest.fixture
def acme(client) -> Account:
    """Tenant acme; its hosts are 10.1.0.1-3."""
    return _tenant_with_data(client, "acme", "10.1.0")


@pytest.fixture
def globex(client) -> Account:
    """Tenant globex; its hosts are 10.2.0.1-3."""
    return _tenant_with_data(client, "globex", "10.2.0")


@pytest.fixture
def initech(client) -> Account:
    """Tenant initech, without data."""
    return _provision(client.app, "initech")
