"""Admin pages (管理): the tenant's users, its API tokens, its audit log and the export of all its
data (before its contract ends), for admins only.

Every form carries the CSRF token; the tenant is the logged-in admin's, so another tenant's user or
token is as unknown as a missing one. Mounted through the ``mieruka.routers`` entry point.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from core.access import accounts, auditlog, passwords
from core.analytics.rowcounts import row_counts
from core.api.deps import DB, MAX_ID, ClickHouse
from core.billing import contracts
from core.billing.invoices import invoices_through
from core.export.tenant import export_tenant, zipped
from core.store.controlplane import ROLES, ApiToken, User, audit
from tariff.calendar import Month
from dashboard import csrf
from dashboard.render import page
from dashboard.routes import FormText, SessionUser
from dashboard.timefmt import MINUTES, absolute, zone_name

router = APIRouter(include_in_schema=False)
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
USER_ACTIONS = ("disable", "enable", "unlock")
# ?done= after a change (post/redirect/get); anything else shows no notice.
DONE = {"user_created", "role_changed", "password_set", "user_disabled", "user_enabled", "user_unlocked",
        "token_revoked"}


def _page(request: Request, template: str, user: User, status_code: int = 200, **context) -> Response:
    return page(request, template, status_code=status_code, user=user, tz_name=zone_name(), **context)


def _refusal(request: Request, user: User | None, posted_csrf: str | None = None) -> Response | None:
    """The response for anyone but an admin (or for a form without a valid CSRF token)."""
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    if user.role != "admin":
        return _page(request, "error.html", user, 403, message="admin_only")
    if posted_csrf is not None and not csrf.is_valid(request, posted_csrf):
        return _page(request, "error.html", user, 403, message="csrf_failed")
    return None


def _back(request: Request, route: str, done: str) -> RedirectResponse:
    return RedirectResponse(request.url_for(route).path + f"?done={done}", status_code=303)


def _done(request: Request) -> str:
    done = request.query_params.get("done", "")
    return done if done in DONE else ""


def _error(exc: accounts.AccountError) -> dict:
    """A refused password in the page's language; other refusals (e-mail taken, ...) as they are."""
    if exc.code:
        return {"error_key": f"password_{exc.code}",
                "error_args": {"min": passwords.MIN_LENGTH, "max": passwords.MAX_LENGTH}}
    return {"error": str(exc)}


def _not_found(request: Request, user: User, back: str) -> Response:
    return _page(request, "error.html", user, 404, message="admin_not_found", back=back)


def user_row(u: User) -> dict:
    return {
        "id": u.id, "email": u.email, "role": u.role, "failed_logins": u.failed_logins,
        "state": accounts.user_state(u), "paused_until": absolute(accounts.paused_until(u), MINUTES),
        "created": absolute(u.created_at, MINUTES),
    }


def _users_page(request: Request, db: DB, user: User, status_code: int = 200, **context) -> Response:
    rows = [user_row(u) for u in accounts.users(db, user.tenant_id)]
    return _page(request, "admin_users.html", user, status_code, nav="admin_users", users=rows, roles=ROLES,
                 done=_done(request), **context)


@router.get("/admin/users", name="admin_users")
def users_page(request: Request, user: SessionUser, db: DB) -> Response:
    return _refusal(request, user) or _users_page(request, db, user)


@router.post("/admin/users", name="admin_user_create")
def create_user(request: Request, user: SessionUser, db: DB, csrf_token: FormText = "", email: FormText = "",
                role: FormText = "analyst", password: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        accounts.create_user(db, user.tenant, email, password, role, user.email)
    except accounts.AccountError as exc:
        return _users_page(request, db, user, 422, form={"email": email, "role": role}, **_error(exc))
    return _back(request, "admin_users", "user_created")


@router.post("/admin/users/{user_id}/role", name="admin_user_role")
def change_role(request: Request, user: SessionUser, db: DB, user_id: RowId, csrf_token: FormText = "",
                role: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        target = accounts.tenant_user(db, user_id, user.tenant_id)
    except accounts.AccountError:
        return _not_found(request, user, "admin_users")
    if target.id == user.id:
        return _users_page(request, db, user, 409, error_key="admin_not_self")
    try:
        accounts.set_role(db, target, role, user.email)
    except accounts.AccountError as exc:
        return _users_page(request, db, user, 422, error=str(exc))
    return _back(request, "admin_users", "role_changed")


@router.post("/admin/users/{user_id}/password", name="admin_user_password")
def reset_password(request: Request, user: SessionUser, db: DB, user_id: RowId, csrf_token: FormText = "",
                   password: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        target = accounts.tenant_user(db, user_id, user.tenant_id)
        accounts.set_password(db, target, password, user.email)
    except accounts.AccountError as exc:
        if not exc.code:  # not a password problem: the user is not the admin's
            return _not_found(request, user, "admin_users")
        return _users_page(request, db, user, 422, **_error(exc))
    return _back(request, "admin_users", "password_set")


@router.post("/admin/users/{user_id}/{action}", name="admin_user_action")
def user_action(request: Request, user: SessionUser, db: DB, user_id: RowId, action: str,
                csrf_token: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        target = accounts.tenant_user(db, user_id, user.tenant_id)
    except accounts.AccountError:
        return _not_found(request, user, "admin_users")
    if action not in USER_ACTIONS:
        return _not_found(request, user, "admin_users")
    if action == "disable" and target.id == user.id:
        return _users_page(request, db, user, 409, error_key="admin_not_self")
    if action == "unlock":
        accounts.unlock_user(db, target, user.email)
    else:
        accounts.set_disabled(db, target, action == "disable", user.email)
    return _back(request, "admin_users", {"disable": "user_disabled", "enable": "user_enabled",
                                          "unlock": "user_unlocked"}[action])


def token_row(token: ApiToken) -> dict:
    return {"id": token.id, "user": token.user.email, "name": token.name, "state": accounts.token_state(token),
            "created": absolute(token.created_at, MINUTES),
            "expires": absolute(token.expires_at, MINUTES) if token.expires_at else ""}


def _tokens_page(request: Request, db: DB, user: User, status_code: int = 200, **context) -> Response:
    rows = [token_row(tok) for tok in accounts.api_tokens(db, user.tenant_id)]
    members = [(u.id, u.email) for u in accounts.users(db, user.tenant_id) if u.disabled_at is None]
    return _page(request, "admin_tokens.html", user, status_code, nav="admin_tokens", tokens=rows,
                 members=members, done=_done(request), **context)


@router.get("/admin/tokens", name="admin_tokens")
def tokens_page(request: Request, user: SessionUser, db: DB) -> Response:
    return _refusal(request, user) or _tokens_page(request, db, user)


@router.post("/admin/tokens", name="admin_token_create")
def create_token(request: Request, user: SessionUser, db: DB, csrf_token: FormText = "", name: FormText = "",
                 user_id: FormText = "", expires_days: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        days = float(expires_days) if expires_days.strip() else None
        if days is not None and not 0 < days <= 3650:
            raise ValueError
    except ValueError:
        return _tokens_page(request, db, user, 422, error_key="admin_bad_days")
    try:
        owner = accounts.tenant_user(db, int(user_id) if user_id.isdigit() else user.id, user.tenant_id)
    except accounts.AccountError:
        return _not_found(request, user, "admin_tokens")
    token, raw = accounts.create_api_token(db, owner, name, user.email,
                                           timedelta(days=days) if days else None)
    # Shown in this reply only (not a redirect): the raw token is never stored.
    return _tokens_page(request, db, user, 201, new_token=raw, new_token_id=token.id)


@router.post("/admin/tokens/{token_id}/revoke", name="admin_token_revoke")
def revoke_token(request: Request, user: SessionUser, db: DB, token_id: RowId, csrf_token: FormText = "") -> Response:
    if refused := _refusal(request, user, csrf_token):
        return refused
    try:
        accounts.revoke_api_token(db, accounts.api_token(db, token_id, user.tenant_id), user.email)
    except accounts.AccountError:
        return _not_found(request, user, "admin_tokens")
    return _back(request, "admin_tokens", "token_revoked")


@router.get("/admin/audit", name="admin_audit")
def audit_page(request: Request, user: SessionUser, db: DB, action: str = "", actor: str = "",
               before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    if refused := _refusal(request, user):
        return refused
    action, actor = action.strip()[:100], actor.strip()[:320]
    rows = auditlog.entries(db, user.tenant_id, action, actor, before)
    entries = [{"id": r.id, "ts": absolute(r.ts), "actor": r.actor, "action": r.action, "detail": r.detail}
               for r in rows]
    older = entries[-1]["id"] if len(entries) == auditlog.PAGE else None
    return _page(request, "admin_audit.html", user, nav="admin_audit", entries=entries, action=action,
                 actor=actor, older=older)


@router.get("/admin/export", name="admin_export")
def export_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    if refused := _refusal(request, user):
        return refused
    counts = sorted(row_counts(ch, user.tenant_id).items(), key=lambda kv: (-kv[1], kv[0]))
    return _page(request, "admin_export.html", user, nav="admin_export", counts=counts,
                 total=sum(n for _, n in counts))


@router.post("/admin/export", name="admin_export_download")
def export_download(request: Request, user: SessionUser, db: DB, ch: ClickHouse, csrf_token: FormText = "") -> Response:
    """Every row of the tenant as a ZIP (Parquet and CSV per table, invoices, manifest), audited."""
    if refused := _refusal(request, user, csrf_token):
        return refused
    work = FilePath(tempfile.mkdtemp(prefix="mieruka-export-"))
    try:
        invoices = invoices_through(contracts.list_contracts(db, user.tenant_id), Month.of(date.today()))
        manifest = export_tenant(ch, db.get_bind(), user.tenant_id, user.tenant.name, work / "export", extra={
            "invoices.json": json.dumps(invoices, ensure_ascii=False, indent=1).encode()})
        archive = zipped(work / "export", work / "export.zip")
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    audit(db, user.email, "tenant.export", user.tenant_id, f"{len(manifest['files'])} files (dashboard)")
    db.commit()
    name = f"mieruka-{user.tenant.name}-{date.today():%Y%m%d}.zip"
    return FileResponse(archive, media_type="application/zip", filename=name,
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))
