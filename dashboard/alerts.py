"""The alert pages (アラート): the list (/alerts) and one alert (/alerts/{id}) with the analyst's
actions (acknowledge, resolve, false positive, reopen, learn, assign, comment) as CSRF-protected
forms. Every signed-in role reads them; admins and analysts act. Mounted through the
``mieruka.routers`` entry point."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from core.api.deps import DB, ClickHouse
from core.detect import store
from core.store.controlplane import User
from dashboard import csrf
from dashboard.alertview import STATUS_ACTIONS, Filters, detail_context, list_context
from dashboard.i18n import N_, translator
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser

router = APIRouter(include_in_schema=False)
FormText = Annotated[str, Form()]
ALERT_ID = re.compile(r"[0-9a-f]{32}")
ACTORS = ("admin", "analyst")
NOT_FOUND, FORBIDDEN, BAD_ACTION = N_("alert_not_found"), N_("alert_forbidden"), N_("alert_bad_action")
MAX_COMMENT, MAX_ASSIGNEE = 4000, 320


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("login").path, status_code=303)


def _error(request: Request, user: User, status_code: int, message: str) -> Response:
    return page(request, "error.html", status_code=status_code, message=message, user=user, back="alerts")


@router.get("/alerts", name="alerts")
def alerts_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    if user is None:
        return _login(request)
    filters = Filters.parse(**request.query_params)
    context = list_context(ch, user.tenant_id, filters, request.url_for("export_alerts").path,
                           translator(request_lang(request)))
    return page(request, "alerts.html", user=user, nav="alerts", **context)


@router.get("/alerts/{alert_id}", name="alert")
def alert_page(request: Request, user: SessionUser, ch: ClickHouse, db: DB, alert_id: str,
               done: str = "") -> Response:
    if user is None:
        return _login(request)
    context = detail_context(ch, db, user.tenant_id, alert_id, translator(request_lang(request))) \
        if ALERT_ID.fullmatch(alert_id) else None
    if context is None:
        return _error(request, user, 404, NOT_FOUND)
    return page(request, "alert.html", user=user, nav="alerts", can_act=user.role in ACTORS,
                done=done if done in STATUS_ACTIONS or done in ("learn", "assign", "comment") else "", **context)


@router.post("/alerts/{alert_id}", name="alert_action")
def alert_action(request: Request, user: SessionUser, ch: ClickHouse, db: DB, alert_id: str,
                 csrf_token: FormText = "", action: FormText = "", assignee: FormText = "",
                 comment: FormText = "") -> Response:
    """One action from the alert page; audited by the store, then back to the page."""
    if user is None:
        return _login(request)
    if not csrf.is_valid(request, csrf_token):
        return page(request, "error.html", status_code=403, message="csrf_failed")
    if user.role not in ACTORS:
        return _error(request, user, 403, FORBIDDEN)
    if not ALERT_ID.fullmatch(alert_id):
        return _error(request, user, 404, NOT_FOUND)
    comment, assignee = comment.strip(), assignee.strip()
    try:
        if action in STATUS_ACTIONS:
            found = store.update_alert(ch, db, user.tenant_id, alert_id, user.email, status=STATUS_ACTIONS[action])
        elif action == "learn":
            found = store.learn(ch, db, user.tenant_id, alert_id, user.email)
        elif action == "assign" and len(assignee) <= MAX_ASSIGNEE:
            found = store.update_alert(ch, db, user.tenant_id, alert_id, user.email, assignee=assignee)
        elif action == "comment" and 0 < len(comment) <= MAX_COMMENT:
            found = store.update_alert(ch, db, user.tenant_id, alert_id, user.email, comment=comment)
        else:
            return _error(request, user, 400, BAD_ACTION)
    except ValueError:  # learn on a kind that names nothing to learn
        return _error(request, user, 400, BAD_ACTION)
    if found is None:
        return _error(request, user, 404, NOT_FOUND)
    db.commit()
    return RedirectResponse(request.url_for("alert", alert_id=alert_id).path + f"?done={action}", status_code=303)
