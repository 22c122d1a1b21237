"""The vulnerabilities page (脆弱性): the tenant's devices matched against the imported advisories,
by CVE (with the devices affected) or by device, with CVE counts by CVSS severity. Mounted through
the ``mieruka.routers`` entry point."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.analytics.vulnerabilities import SEVERITIES, tenant_vulnerabilities
from core.api.deps import ClickHouse
from core.vulns.store import fingerprint
from dashboard.i18n import N_
from dashboard.render import page, with_query
from dashboard.routes import SessionUser

router = APIRouter(include_in_schema=False)
VIEWS = ("cve", "device")
SHOWN_SEVERITIES = tuple(name for name, _ in SEVERITIES if name != "none")
# Keys the templates compute: base.html's "nav_" ~ route, "vulns_by_" ~ view, "vuln_confidence_" ~ value.
N_("nav_vulnerabilities"), N_("vulns_by_cve"), N_("vulns_by_device")
N_("vuln_confidence_exact"), N_("vuln_confidence_family"), N_("vuln_confidence_exact_hint"), N_("vuln_confidence_family_hint")


@router.get("/vulnerabilities", name="vulnerabilities")
def vulnerabilities_page(request: Request, user: SessionUser, ch: ClickHouse, view: str = "cve") -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    found = tenant_vulnerabilities(ch, user.tenant_id)
    for entry in found["by_cve"]:  # the advisories' remediation texts, each once
        entry["remediations"] = list(dict.fromkeys(d["remediation"] for d in entry["devices"] if d["remediation"]))
    return page(request, "vulnerabilities.html", user=user, nav="vulnerabilities",
                view=view if view in VIEWS else "cve", views=[(v, with_query(request, view=v)) for v in VIEWS],
                severities=SHOWN_SEVERITIES, advisories=fingerprint(ch)[0], **found)
