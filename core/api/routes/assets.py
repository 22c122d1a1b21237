"""The asset ledger: list (filter, sort, CSV), one device's detail, and analyst annotations."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core.analytics import assets as ledger
from core.api.deps import DB, Bearer, ClickHouse, Principal
from core.store.controlplane import audit

router = APIRouter(tags=["assets"])

Sort = Literal[*ledger.SORTABLE]  # type: ignore[valid-type]


@router.get("/api/v1/assets")
def list_assets(who: Principal, ch: ClickHouse, q: str = "", role: str = "", sort: Sort = "ip",
                order: Literal["asc", "desc"] = "asc") -> list[dict]:
    return ledger.list_assets(ch, who.tenant_id, q, role, sort, order == "desc")


@router.get("/api/v1/assets.csv", response_class=Response)
def export_assets(who: Principal, ch: ClickHouse, q: str = "", role: str = "") -> Response:
    return Response(ledger.assets_csv(ledger.list_assets(ch, who.tenant_id, q, role)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="assets.csv"'})


@router.get("/api/v1/assets/{device}")
def asset_detail(device: str, who: Principal, ch: ClickHouse) -> dict:
    found = ledger.asset_detail(ch, who.tenant_id, device)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {device!r}")
    return found


class Annotation(BaseModel):
    authorized: Literal[*ledger.AUTHORIZATION] = "unknown"  # type: ignore[valid-type]
    importance: Literal[*ledger.IMPORTANCE] = ""  # type: ignore[valid-type]
    tags: list[str] = Field(default_factory=list, max_length=32)
    notes: str = Field("", max_length=4000)


@router.put("/api/v1/assets/{device}/annotation")
def annotate(device: str, body: Annotation, who: Principal, bearer: Bearer, ch: ClickHouse,
             db: DB) -> dict:
    """Set authorisation, importance, tags and notes; they survive re-observation."""
    if bearer is None:  # a cookie alone could be a cross-site request: the dashboard has its own form
        raise HTTPException(status.HTTP_403_FORBIDDEN, "writes through the API need an API token")
    if device not in ledger.ledger(ch, who.tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {device!r}")
    saved = ledger.annotate(ch, who.tenant_id, device, who.email, **body.model_dump())
    audit(db, who.email, "asset.annotate", who.tenant_id, f"{device}: {body.model_dump_json()}")
    db.commit()
    return saved
