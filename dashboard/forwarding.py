"""The forwarding page (アラート転送): where the tenant's alerts go (syslog CEF/LEEF, webhook), each
destination's last success and failure, and its outbox (waiting, since when). For admins and
analysts; secrets appear only as "set". Mounted through the ``mieruka.routers`` entry point."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.api.deps import DB, Now
from core.forward import destinations
from dashboard.i18n import N_, Translator, translator
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser
from dashboard.timefmt import absolute, duration, zone_name

router = APIRouter(include_in_schema=False)
FORBIDDEN = N_("forwarding_forbidden")
N_("nav_forwarding")  # base.html's navigation: "nav_" ~ route


def _row(d: destinations.State, now: datetime, t: Translator) -> dict:
    return {
        "name": d.name, "url": d.url, "format": d.format.upper(), "min_severity": d.min_severity,
        "secret": d.secret, "tls_files": d.tls_files, "verify": d.verify, "queued": d.queued,
        "waiting": duration((now - d.oldest_queued).total_seconds(), t) if d.oldest_queued else "",
        "last_success": absolute(d.last_success), "last_failure": absolute(d.last_failure),
        "last_error": d.last_error or "", "failing": d.failures > 0,
        "next_attempt": absolute(d.next_attempt) if d.failures else "",
    }


@router.get("/forwarding", name="forwarding")
def forwarding_page(request: Request, user: SessionUser, db: DB, now: Now) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    if user.role not in ("admin", "analyst"):
        return page(request, "error.html", status_code=403, user=user, message=FORBIDDEN)
    t = translator(request_lang(request))
    rows = [_row(state, now, t) for _, state in destinations.states(db, user.tenant_id)]
    return page(request, "forwarding.html", user=user, nav="forwarding", destinations=rows,
                queued=sum(r["queued"] for r in rows), failing=sum(r["failing"] for r in rows),
                tz_name=zone_name())
