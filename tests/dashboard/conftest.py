"""Fixtures for dashboard page tests: the real core app (chDB + SQLite in a temp dir; the dashboard
is mounted by the core's ``mieruka.routers`` entry point) and tenants with one small batch each."""

from __future__ import annotations

import pytest
from coretest import PASSWORD, Tenant, post_batch, provision
from fastapi.testclient import TestClient
from pagetest import csrf_token, plant_batch
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings


@pytest.fixture
def client(tmp_path):
    """TestClient on the started core app."""
    with TestClient(create_app(Settings(data_dir=migrated(tmp_path))), follow_redirects=False) as c:
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


@pytest.fixture
def login(client):
    """``login(account)`` logs ``client`` in through the form and returns the response."""

    def _login(account, email: str | None = None, password: str = PASSWORD):
        token = csrf_token(client.get("/login").text)
        return client.post("/login", data={"csrf_token": token, "email": email or account.email, "password": password})

    return _login
