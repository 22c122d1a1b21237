"""/api/v1/users: an admin manages the users of their own tenant (other roles get 403)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.access import accounts, auth, passwords
from core.api.deps import DB, MAX_ID, Admin, AdminWriter
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.store.controlplane import ROLES, User

router = APIRouter(tags=["users"])
Role = Literal[*ROLES]  # type: ignore[valid-type]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
PASSWORD_RULE = "also refused with 422 when easy to guess or containing the e-mail address (core.access.passwords)"
REFUSED = {
    401: NEEDS_LOGIN,
    403: "not an admin, or a write without an API token",
    404: "no such user in the caller's tenant",
}
ERRORS = refusals(REFUSED)
OWN_ACCOUNT = refusals(REFUSED | {409: "own account"})


class UserOut(Out):
    id: int
    email: str
    role: Role
    state: Literal["active", "disabled", "paused"] = Field(
        description="paused: too many failed logins; login refused until paused_until or an unlock")
    failed_logins: int = Field(description="failed logins since the last successful one")
    paused_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, role=user.role, state=accounts.user_state(user),
                   failed_logins=user.failed_logins, paused_until=accounts.paused_until(user),
                   created_at=user.created_at)


class NewUser(BaseModel):
    email: str = Field(max_length=320, pattern=accounts.EMAIL_PATTERN)
    role: Role = "analyst"
    password: str = Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH,
                          description=PASSWORD_RULE)


class NewPassword(BaseModel):
    password: str = Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH,
                          description=PASSWORD_RULE)


class NewRole(BaseModel):
    role: Role


def _user(db: Session, who: auth.Identity, user_id: int) -> User:
    try:
        return accounts.tenant_user(db, user_id, who.tenant_id)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _not_self(who: auth.Identity, user: User, what: str) -> None:
    """An admin cannot shut themselves out (and perhaps leave the tenant without an admin)."""
    if user.id == who.user_id:
        raise HTTPException(status.HTTP_409_CONFLICT, f"you cannot {what} your own account")


def _invalid(exc: accounts.AccountError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.get("/api/v1/users", responses=ERRORS)
def list_users(who: Admin, db: DB) -> list[UserOut]:
    return [UserOut.of(user) for user in accounts.users(db, who.tenant_id)]


@router.post("/api/v1/users", status_code=status.HTTP_201_CREATED,
             responses=refusals(REFUSED | {422: "bad e-mail, weak password, or e-mail taken"}))
def create_user(body: NewUser, who: AdminWriter, db: DB) -> UserOut:
    tenant = db.get(User, who.user_id).tenant
    try:
        return UserOut.of(accounts.create_user(db, tenant, body.email, body.password, body.role, who.email))
    except accounts.AccountError as exc:
        raise _invalid(exc) from None


@router.post("/api/v1/users/{user_id}/disable", responses=OWN_ACCOUNT)
def disable_user(user_id: UserId, who: AdminWriter, db: DB) -> UserOut:
    """No login; the user's sessions end and their API tokens stop working."""
    user = _user(db, who, user_id)
    _not_self(who, user, "disable")
    accounts.set_disabled(db, user, True, who.email)
    return UserOut.of(user)


@router.post("/api/v1/users/{user_id}/enable", responses=ERRORS)
def enable_user(user_id: UserId, who: AdminWriter, db: DB) -> UserOut:
    user = _user(db, who, user_id)
    accounts.set_disabled(db, user, False, who.email)
    return UserOut.of(user)


@router.post("/api/v1/users/{user_id}/unlock", responses=ERRORS)
def unlock_user(user_id: UserId, who: AdminWriter, db: DB) -> UserOut:
    """Lift the pause after too many failed logins."""
    user = _user(db, who, user_id)
    accounts.unlock_user(db, user, who.email)
    return UserOut.of(user)


@router.put("/api/v1/users/{user_id}/role", responses=OWN_ACCOUNT)
def change_role(user_id: UserId, body: NewRole, who: AdminWriter, db: DB) -> UserOut:
    user = _user(db, who, user_id)
    _not_self(who, user, "change the role of")
    accounts.set_role(db, user, body.role, who.email)
    return UserOut.of(user)


@router.put("/api/v1/users/{user_id}/password",
            responses=refusals(REFUSED | {422: "weak password"}))
def reset_password(user_id: UserId, body: NewPassword, who: AdminWriter, db: DB) -> UserOut:
    """Set a new password (policy-checked); the user's sessions end."""
    user = _user(db, who, user_id)
    try:
        accounts.set_password(db, user, body.password, who.email)
    except accounts.AccountError as exc:
        raise _invalid(exc) from None
    return UserOut.of(user)
