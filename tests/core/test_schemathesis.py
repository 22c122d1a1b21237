"""schemathesis over the core's OpenAPI schema, against a real server on 127.0.0.1: every operation,
valid and invalid input, with the credential it takes. The checks: no answer is a 5xx, and every
answer's body fits the schema declared for its status (the routes' response models, core.api.models)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from datetime import timedelta

from coretest import T0, OSECT_EXAMPLE, add_user, bearer, make_batch, post_batch, store_contract
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from core.access import accounts
from core.api.app import create_app
from core.config import Settings
from core.fleet import activation
from sensor import wire

MAX_EXAMPLES = 40  # per operation, fuzzing phase (the coverage phase adds its own cases); about 40 s
CASES: list[tuple[str, int]] = []  # (operation, status) of every case sent

# The schema of an app built but not started (routes need no stores); cases go to the live server.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def tenant(shared_live):
    """acme with traffic and a contract; tokens of its admin, billing user and sensor."""
    acme, _ = shared_live.tenants
    with httpx.Client(base_url=shared_live.url) as http:
        assert post_batch(http, acme.sensor_token, wire.encode(make_batch())).status_code == 200
    store_contract(shared_live.app, "acme", OSECT_EXAMPLE, ("SN-acme",))
    return {"sensor": acme.sensor_token, "admin": add_user(shared_live.app, "acme", "admin@acme.example", "admin"),
            "billing": add_user(shared_live.app, "acme", "billing@acme.example", "billing"),
            "datateam": add_user(shared_live.app, "provider", "data@provider.example", "datateam")}


def token_for(path: str, tokens: dict) -> str:
    """The credential an operation takes: sensors', billing staff's, the data team's, or else an admin's (who reads
    everything an analyst does and administers the tenant)."""
    if path == "/api/v1/ingest" or path.startswith("/api/v1/sensor/"):
        return tokens["sensor"]
    if path.startswith("/api/v1/stats"):
        return tokens["datateam"]  # the provider's data team
    return tokens["billing" if path.startswith("/api/v1/billing/") else "admin"]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, shared_live, tenant):
    response = case.call_and_validate(base_url=shared_live.url, headers=bearer(token_for(case.path, tenant)),
                                      checks=[not_a_server_error, response_schema_conformance], timeout=30)
    CASES.append((case.operation.label, response.status_code))


def test_successes_the_fuzzer_cannot_reach_fit_their_models(shared_live, tenant):
    """Answers that take what random input cannot guess (a stored batch, a device, a month, an
    activation code) are checked against their models here."""
    def fits(method: str, path: str, response: httpx.Response) -> httpx.Response:
        assert response.is_success, (path, response.status_code, response.text)
        schema[path][method].validate_response(response)
        return response

    with shared_live.app.state.controlplane.sessions() as db:
        owner = accounts.tenant_named(db, "acme")
        _, code, _ = activation.ship_sensor(db, owner, "SN-shipped", "", timedelta(days=1))
    with httpx.Client(base_url=shared_live.url) as http:
        batch = wire.encode(make_batch(start=T0 + timedelta(minutes=5)))
        stored = fits("POST", "/api/v1/ingest", post_batch(http, tenant["sensor"], batch)).json()
        again = fits("POST", "/api/v1/ingest", post_batch(http, tenant["sensor"], batch)).json()
        assert (stored["status"], again) == ("stored", {"status": "duplicate", "batch_id": stored["batch_id"]})
        fits("POST", "/api/v1/sensor/opening-test", http.post(
            "/api/v1/sensor/opening-test", json={"batch_id": stored["batch_id"]}, headers=bearer(tenant["sensor"])))
        admin = bearer(tenant["admin"])
        devices = [a["device"] for a in http.get("/api/v1/assets", headers=admin).json()]
        assert devices
        for device in devices:
            fits("GET", "/api/v1/assets/{device}", http.get(f"/api/v1/assets/{device}", headers=admin))
        fits("PUT", "/api/v1/assets/{device}/annotation", http.put(
            f"/api/v1/assets/{devices[0]}/annotation", json={"tags": ["line-1"]}, headers=admin))
        billing = bearer(tenant["billing"])
        for path in ("/api/v1/billing/invoices", "/api/v1/billing/invoices.csv"):
            fits("GET", path, http.get(path, params={"month": "2026-12"}, headers=billing))
        fits("POST", "/api/v1/activate", http.post("/api/v1/activate", json={"code": code}))


@pytest.fixture(scope="module", autouse=True)
def tally():
    """After the run: how many cases, how many were answered with something other than 401, how
    many succeeded (their bodies checked against the response models), and the operations that never
    succeeded (their success answers went unchecked)."""
    yield
    served = sum(status != 401 for _, status in CASES)
    succeeded = sum(200 <= status < 300 for _, status in CASES)
    print(f"\nschemathesis: {len(CASES)} cases, {len({op for op, _ in CASES})} operations, {served} not 401,"
          f" {succeeded} 2xx")
    print("no 2xx from fuzzing (see test_successes_the_fuzzer_cannot_reach_fit_their_models):", sorted({op for op, _ in CASES} - {op for op, status in CASES if 200 <= status < 300}))
