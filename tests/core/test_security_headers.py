"""Security headers on every kind of response, /metrics access, /docs switch, and what a real
`mieruka serve` tells (no Server header) and trusts (X-Forwarded-Proto from loopback only)."""

from __future__ import annotations

import re

import socket

import httpx
import pytest
from coretest import PASSWORD, authenticated, bearer, provision
from fastapi.testclient import TestClient
from plotly.offline import get_plotlyjs_version
from pydantic import SecretStr
from runtest import CoreProcess

from core.access import auth
from core.api.app import create_app
from core.api.security import CSP, DOCS_CSP, HEADERS, HSTS


def assert_secured(response: httpx.Response, csp: str = CSP) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert response.headers["content-security-policy"] == csp
    assert "server" not in response.headers


@pytest.fixture(scope="module")
def acme(client):
    return provision(client.app, "acme")


@pytest.fixture(scope="module")
def session(client, acme):
    with client.app.state.controlplane.sessions() as db:
        raw = auth.start_session(db, authenticated(db, acme.email, PASSWORD))
    return {"Cookie": f"{auth.SESSION_COOKIE}={raw}"}


@pytest.mark.parametrize("path, expected", [
    ("/healthz", 200), ("/api/v1/totals", 401), ("/api/v1/nowhere", 404), ("/login", 200),
    ("/", 303), (f"/static/dashboard/plotly-{get_plotlyjs_version()}.min.js", 200), ("/static/dashboard/style.css", 200),
    ("/openapi.json", 200),
])
def test_anonymous_responses_carry_the_headers(client, path, expected):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == expected
    assert_secured(r)
    assert "strict-transport-security" not in r.headers  # plain HTTP


def test_user_pages_api_csv_and_validation_errors_carry_the_headers(client, acme, session):
    for path in ("/", "/assets", "/sensors", "/assets.csv"):
        r = client.get(path, headers=session)
        assert r.status_code == 200, path
        assert_secured(r)
    for path, expected in (("/api/v1/totals", 200), ("/api/v1/assets.csv", 200),
                           ("/api/v1/totals?start=yesterday", 422)):
        r = client.get(path, headers=bearer(acme.api_token))
        assert r.status_code == expected, path
        assert_secured(r)


def test_docs_pages_load_only_their_own_scripts(client):
    """Swagger UI and ReDoc come from the core itself (a closed network has no CDN)."""
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200 and not re.findall(r'(?:src|href)="(?:https?:)?//', r.text), r.text
        assert_secured(r, DOCS_CSP)
        assets = re.findall(r'(?:src|href|url)[=:] ?["\']?(/static/docs/[\w.-]+)', r.text)
        assert len(assets) >= 2, r.text
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    assert "https:" not in DOCS_CSP and "http:" not in DOCS_CSP
    assert client.get("/static/docs/../../etc/passwd").status_code == 404


def test_an_unexpected_failure_carries_the_headers(client, acme, monkeypatch):
    monkeypatch.setattr("core.analytics.assets.list_assets", lambda *a: 1 / 0)
    quiet = TestClient(client.app, raise_server_exceptions=False)  # no `with`: app already started
    r = quiet.get("/api/v1/assets", headers=bearer(acme.api_token))
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}
    assert_secured(r)


def test_hsts_only_over_tls_never_on_a_clients_say_so(client):
    r = client.get("/healthz", headers={"X-Forwarded-Proto": "https", "Forwarded": "proto=https"})
    assert "strict-transport-security" not in r.headers
    tls = TestClient(client.app, base_url="https://testserver")  # the scheme uvicorn gives a TLS listener
    r = tls.get("/healthz")
    assert r.headers["strict-transport-security"] == HSTS
    assert_secured(r)


def test_metrics_need_the_token_when_one_is_set(module_settings):
    settings = module_settings.model_copy(update={"metrics_token": SecretStr("s3cret-metrics")})
    with TestClient(create_app(settings)) as c:  # the module's stores: chDB has one data dir per process
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=bearer("wrong")).status_code == 401
        r = c.get("/metrics", headers=bearer("s3cret-metrics"))
        assert r.status_code == 200 and "mieruka_ingest_batches" in r.text
        assert_secured(r)


def test_metrics_without_a_token_are_refused_to_a_remote_client(client):
    r = client.get("/metrics")  # TestClient's peer is "testclient", not loopback
    assert r.status_code == 403 and "MIERUKA_METRICS_TOKEN" in r.json()["detail"]


def test_docs_can_be_turned_off(module_settings):
    with TestClient(create_app(module_settings.model_copy(update={"docs": False}))) as c:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert c.get(path).status_code == 404, path
        assert c.get("/healthz").status_code == 200


def own_address() -> str:
    """A non-loopback address of this machine (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no non-loopback IPv4 address")
        return s.getsockname()[0]


def test_mieruka_serve_names_no_server_and_trusts_only_a_local_proxy(tmp_path):
    core = CoreProcess(tmp_path, host="0.0.0.0").start()
    try:
        local, remote = f"http://127.0.0.1:{core.port}", f"http://{own_address()}:{core.port}"
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        r = httpx.get(local + "/healthz", headers=proxied)
        assert "server" not in r.headers and r.headers["strict-transport-security"] == HSTS
        r = httpx.get(remote + "/healthz", headers=proxied)
        assert "server" not in r.headers and "strict-transport-security" not in r.headers
        assert_secured(r)
        assert httpx.get(local + "/metrics").status_code == 200
        assert httpx.get(local + "/metrics", headers=proxied).status_code == 403  # via a local proxy
        assert httpx.get(remote + "/metrics").status_code == 403
    finally:
        core.stop()
