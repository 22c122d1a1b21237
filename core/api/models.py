"""What the routers share in the OpenAPI description: the error bodies, the ``responses=`` entries
that declare them, and the CSV answer. Each resource's own models live next to its router."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    """A response body. Extra keys are an error, so a field added to a query but not to its model
    fails the tests instead of silently vanishing from the answer."""

    model_config = ConfigDict(extra="forbid")


class Volume(Out):
    """Traffic counted from the rollups: both directions, IP packets' bytes."""

    bytes: int
    packets: int
    flows: int = Field(description="flow records (one per flow per batch interval)")


class Problem(BaseModel):
    """The body of every error the routes raise (FastAPI's ``HTTPException``)."""

    detail: str = Field(description="why the request was refused, in English", examples=["no asset '10.0.0.9'"])


class FieldIssue(BaseModel):
    """One invalid part of a request, as FastAPI's validation reports it."""

    loc: list[str | int] = Field(description="where: query, path, header or body, then the field")
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class Unprocessable(BaseModel):
    """422: the request failed validation (a list of issues) or a rule of the route (a sentence)."""

    detail: str | list[FieldIssue]


NEEDS_LOGIN = "no valid API token or login session"


def refusals(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the error statuses a route raises, each with its body's model."""
    return {code: {"model": Unprocessable, "description": f"{text}; or the request failed validation"}
            if code == 422 else {"model": Problem, "description": text} for code, text in described.items()}


def csv_response(description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry of a route answering CSV rather than JSON."""
    return {200: {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}}
