"""Fixtures for dashboard page tests: the real core app (chDB + SQLite in a temp dir; the dashboard
is mounted by the core's ``mieruka.routers`` entry point) and tenants with one small batch each."""

from __future__ import annotations

import pytest
from coretest import T0, Tenant, flow, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.config import Settings
from sensor import wire


def plant_batch(subnet: str) -> bytes:
    """One minute from T0 of Modbus and HTTP among ``subnet``.1-3, and vendor/hostname facts for .2."""
    flows = [
        flow(f"{subnet}.1", f"{subnet}.2", "modbus", nbytes=7000, pkts=10),
        flow(f"{subnet}.3", f"{subnet}.2", "http", nbytes=3000, pkts=10),
    ]
    observations = [
        dict(ts=T0, mac="00:1b:1b:00:00:02", ip=f"{subnet}.2", attribute=attribute, value=value,
             source="dhcp", confidence=90)
        for attribute, value in (("vendor", "Siemens"), ("hostname", f"plc-{subnet}"))
    ]
    return wire.encode(make_batch(flows, [], observations))


@pytest.fixture
def client(tmp_path):
    """TestClient on the started core app."""
    with TestClient(create_app(Settings(data_dir=tmp_path)), follow_redirects=False) as c:
        yield c


def _tenant_with_data(client, name: str, subnet: str) -> Tenant:
    tenant = provision(client.app, name)
    r = post_batch(client, tenant.sensor_token, plant_batch(subnet))
    assert r.status_code == 200, r.text
    return tenant


@pytest.fixture
def acme(client) -> Tenant:
    """Tenant acme; its hosts are 10.1.0.1-3."""
    return _tenant_with_data(client, "acme", "10.1.0")


@pytest.fixture
def globex(client) -> Tenant:
    """Tenant globex; its hosts are 10.2.0.1-3."""
    return _tenant_with_data(client, "globex", "10.2.0")


@pytest.fixture
def initech(client) -> Tenant:
    """Tenant initech, without data."""
    return provision(client.app, "initech")
