"""The OpenAPI schema documents every answer: each JSON route under /api/v1 (and /healthz) declares a
response model with typed fields, non-JSON routes their media type, and the errors routes raise a
body. A new route returning a bare ``dict`` fails here."""

from __future__ import annotations

import pytest
from coretest import bearer
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.api.models import Out, csv_response, refusals
from core.config import Settings
from core.store.controlplane import Sensor


def documented(path: str) -> bool:
    return path.startswith("/api/v1/") or path == "/healthz"


def undocumented_answers(spec: dict) -> list[str]:
    """Answers of documented routes that say nothing a client can rely on: a success with no content
    or with JSON that is not a model (or a list of models), an error with no body schema."""
    found = []
    for path, operations in spec["paths"].items():
        if not documented(path):
            continue
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                where = f"{method.upper()} {path} {code}"
                content = response.get("content", {})
                if not content:
                    found.append(f"{where}: no content")
                for media, body in content.items():
                    schema = body.get("schema", {})
                    if media == "application/json" and code.startswith("2") and not is_model(spec, schema):
                        found.append(f"{where}: JSON without a model")
                    elif not schema:
                        found.append(f"{where}: {media} without a schema")
    return found


def is_model(spec: dict, schema: dict) -> bool:
    """A named schema with typed properties, or an array of them."""
    if schema.get("type") == "array":
        return is_model(spec, schema.get("items", {}))
    ref = schema.get("$ref", "")
    target = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    properties = target.get("properties", {})
    return bool(properties) and all(field.keys() & {"type", "$ref", "anyOf", "enum", "const"}
                                    for field in properties.values())


def test_every_answer_is_documented():
    spec = create_app(Settings()).openapi()
    routes = [p for p in spec["paths"] if documented(p)]
    assert len(routes) >= 25  # all of them are looked at, not none
    assert undocumented_answers(spec) == []


def test_an_undocumented_route_is_caught():
    """What the test above would say of routes written the old way."""
    app = create_app(Settings())

    @app.get("/api/v1/bare")
    def bare() -> dict:
        return {}

    @app.get("/api/v1/rows", responses={404: {"description": "no such row"}})
    def rows() -> list[dict]:
        return []

    @app.get("/api/v1/export.csv", response_class=Response)
    def export() -> Response:
        return Response("a\n", media_type="text/csv")

    assert undocumented_answers(app.openapi()) == [
        "GET /api/v1/bare 200: JSON without a model",
        "GET /api/v1/rows 200: JSON without a model",
        "GET /api/v1/rows 404: no content",
        "GET /api/v1/export.csv 200: no content",
    ]


def test_csv_routes_declare_csv_only():
    paths = create_app(Settings()).openapi()["paths"]
    for path in ("/api/v1/assets.csv", "/api/v1/billing/invoices.csv"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv"]


class Pair(Out):
    a: int


@pytest.fixture
def tiny():
    app = FastAPI()

    @app.get("/drift")
    def drift() -> Pair:
        return {"a": 1, "b": 2}  # a field the model does not know

    @app.get("/gone", responses=refusals({404: "no such thing"}) | csv_response("a CSV"))
    def gone() -> Response:
        raise HTTPException(404, "no such thing")

    return TestClient(app, raise_server_exceptions=False)


def test_a_field_missing_from_a_model_is_an_error_not_a_silent_drop(tiny):
    assert tiny.get("/drift").status_code == 500


def test_refusals_document_the_error_body(tiny):
    spec = tiny.app.openapi()
    assert tiny.get("/gone").json() == {"detail": "no such thing"}
    assert spec["paths"]["/gone"]["get"]["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    assert spec["components"]["schemas"]["Problem"]["required"] == ["detail"]


def test_a_health_report_is_shown_as_it_was_sent(client, tenants):
    """A report stored before a field existed keeps its shape: its model fills in no defaults."""
    acme, _ = tenants
    old = {"capture_pps": 10.0, "kernel_drops": 0, "parse_errors": 0, "capture_at": None, "spool_depth": 1,
           "spool_bytes": 2, "spool_oldest_age_s": None, "spool_evicted": 0, "last_upload": None,
           "bytes_this_month": 3, "monthly_budget_bytes": 4}
    with client.app.state.controlplane.sessions() as db:
        db.get(Sensor, acme.sensor_id).health = old
        db.commit()
    [sensor] = client.get("/api/v1/sensors", headers=bearer(acme.api_token)).json()
    assert sensor["health"] == old and sensor["batches"] == 0 and sensor["last_interval_end"] is None
