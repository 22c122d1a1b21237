"""/api/v1/tokens: an admin lists, issues (with an expiry) and revokes their tenant's API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from core.access import accounts
from core.api.deps import DB, MAX_ID, Admin, AdminWriter
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.store.controlplane import ApiToken

router = APIRouter(tags=["tokens"])
ERRORS = refusals({
    401: NEEDS_LOGIN,
    403: "not an admin, or a write without an API token",
    404: "no such token or user in the caller's tenant",
})


class TokenOut(Out):
    id: int
    user: str = Field(description="the e-mail address of the user the token acts as")
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: Literal["live", "expired", "revoked"]

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(id=token.id, user=token.user.email, name=token.name, created_at=token.created_at,
                   expires_at=token.expires_at, revoked_at=token.revoked_at, state=accounts.token_state(token))


class NewToken(BaseModel):
    name: str = Field("", max_length=200)
    user_id: int | None = Field(None, ge=1, le=MAX_ID,
                                description="the user the token acts as (default: the caller)")
    expires_days: float | None = Field(None, ge=0.001, le=3650, description="default: never expires")


class IssuedToken(TokenOut):
    token: str = Field(description="the raw token, shown only in this reply")


@router.get("/api/v1/tokens", responses=ERRORS)
def list_tokens(who: Admin, db: DB) -> list[TokenOut]:
    return [TokenOut.of(token) for token in accounts.api_tokens(db, who.tenant_id)]


@router.post("/api/v1/tokens", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_token(body: NewToken, who: AdminWriter, db: DB) -> IssuedToken:
    try:
        user = accounts.tenant_user(db, body.user_id or who.user_id, who.tenant_id)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    valid_for = timedelta(days=body.expires_days) if body.expires_days else None
    token, raw = accounts.create_api_token(db, user, body.name, who.email, valid_for)
    return IssuedToken(**TokenOut.of(token).model_dump(), token=raw)


@router.delete("/api/v1/tokens/{token_id}", responses=ERRORS)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: AdminWriter, db: DB) -> TokenOut:
    """The token answers 401 from now on."""
    try:
        token = accounts.api_token(db, token_id, who.tenant_id)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    accounts.revoke_api_token(db, token, who.email)
    return TokenOut.of(token)
