"""The assessment report page (レポート): pick a period, a language and PDF or HTML, and download
the report ``core.report`` makes. For admins and analysts; each download is audited. Mounted
through the ``mieruka.routers`` entry point."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.analytics.window import resolve_window
from core.api.deps import DB, ClickHouse, SettingsDep
from core.report.catalogue import LANGS
from core.report.make import FORMATS, file_name, make_report
from core.report.period import DISPLAY_TZ, period
from core.report.render import ReportError
from core.store.controlplane import Tenant, User, audit
from dashboard.i18n import N_
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser

router = APIRouter(include_in_schema=False)
READERS = ("admin", "analyst")
DEFAULT_DAYS = 30
FORBIDDEN, BAD_CHOICE, FAILED = N_("report_forbidden"), N_("report_bad_choice"), N_("report_failed")
N_("nav_report")  # base.html's navigation: "nav_" ~ route
N_("report_lang_ja"), N_("report_lang_en"), N_("report_format_pdf"), N_("report_format_html")  # the form's choices


def _default_days(ch: ClickHouse, tenant_id: int) -> tuple[str, str]:
    """The 30 days (in Japan) up to the tenant's newest data."""
    last = (resolve_window(ch, tenant_id).end - timedelta(microseconds=1)).astimezone(DISPLAY_TZ).date()
    return f"{last - timedelta(days=DEFAULT_DAYS - 1)}", f"{last}"


def _form(request: Request, user: User, ch: ClickHouse, status_code: int = 200, error: str = "",
          **chosen: str) -> Response:
    start, end = _default_days(ch, user.tenant_id)
    values = {"start": start, "end": end, "language": request_lang(request), "format": "pdf"} | {
        k: v for k, v in chosen.items() if v}
    return page(request, "report.html", status_code=status_code, user=user, nav="report", error=error,
                form=values, langs=LANGS, formats=tuple(FORMATS))


@router.get("/report", name="report")
def report_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    if user.role not in READERS:
        return page(request, "error.html", status_code=403, user=user, message=FORBIDDEN)
    return _form(request, user, ch)


@router.get("/report/download", name="report_download")
def report_download(request: Request, user: SessionUser, ch: ClickHouse, db: DB, settings: SettingsDep,
                    start: str = "", end: str = "", language: str = "ja", format: str = "pdf") -> Response:
    """The report's file; ``language`` is the report's (``lang`` would switch the page's)."""
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    if user.role not in READERS:
        return page(request, "error.html", status_code=403, user=user, message=FORBIDDEN)
    if not start and not end:
        start, end = _default_days(ch, user.tenant_id)
    chosen = {"start": start[:40], "end": end[:40], "language": language if language in LANGS else "",
              "format": format if format in FORMATS else ""}
    try:
        span = period(start, end)
    except ValueError:
        return _form(request, user, ch, 400, BAD_CHOICE, **chosen)
    if not chosen["language"] or not chosen["format"]:
        return _form(request, user, ch, 400, BAD_CHOICE, **chosen)
    tenant = db.get(Tenant, user.tenant_id)
    try:
        made = make_report(ch, tenant.id, tenant.name, span, language, format, settings.chromium)
    except ReportError:
        return _form(request, user, ch, 503, FAILED, **chosen)
    audit(db, user.email, "report", tenant.id,
          f"{span.start:%Y-%m-%dT%H:%MZ}/{span.end:%Y-%m-%dT%H:%MZ} {language} {format}")
    db.commit()
    return Response(made, media_type=FORMATS[format], headers={
        "Content-Disposition": f'attachment; filename="{file_name(tenant.name, span, format)}"',
        "Cache-Control": "no-store"})
