"""The data team's page (統計, ``/stats``): the statistics across every tenant (core.stats) as trends
over the periods — devices by role and vendor, protocols, insecure practices, alerts, vulnerabilities,
sensor fleet health — with what was suppressed and the exports. For the provider's data team only
(core.stats.access); each view is audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from core.access import auth
from core.api.deps import DB, ClickHouse, Now, SettingsDep
from core.detect.kinds import KINDS
from core.export.anonymity import OTHER
from core.stats.access import is_data_team, record_read
from core.stats.build import Stats, statistics
from core.stats.labels import ROLES
from core.stats.periods import KINDS as PERIOD_KINDS
from core.stats.periods import periods
from dashboard.figures import embed
from dashboard.i18n import N_, Translator, translator
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser
from dashboard.statsfigures import trend_figure

router = APIRouter(include_in_schema=False)
SPANS = {"month": 6, "week": 12}  # periods shown by default
MAX_PERIODS = 36
# Messages the page names by computed keys ("stats_table_" ~ table, ...).
COMPUTED_KEYS = (
    N_("nav_stats"), N_("stats_only"), N_("stats_period_month"), N_("stats_period_week"),
    N_("practice_cleartext_credentials"), N_("practice_default_credentials"), N_("practice_smbv1"),
    N_("practice_internet_exposure"), N_("practice_remote_access"),
    N_("stats_table_totals"), N_("stats_table_devices_by_vendor"), N_("stats_table_devices_by_role"),
    N_("stats_table_devices_by_model_family"), N_("stats_table_firmware_by_model_family"),
    N_("stats_table_protocols"), N_("stats_table_ot_functions"), N_("stats_table_alerts"),
    N_("stats_table_insecure_practices"), N_("stats_table_vulnerabilities"), N_("stats_table_fleet_health"),
    N_("stats_reason_fewer_than_k_tenants"), N_("stats_reason_fewer_than_m_devices"),
    N_("stats_reason_complementary"), N_("stats_reason_table_below_threshold"),
    N_("stats_reason_model_family_suppressed"),
)


def data_team_session(user: SessionUser, db: DB, settings: SettingsDep) -> bool:
    """Whether the logged-in user is the provider's data team (false when nobody is logged in)."""
    return user is not None and is_data_team(db, auth.identity(user), settings.provider_tenant)


DataTeamSession = Annotated[bool, Depends(data_team_session)]


def shown_span(start: str, end: str, kind: str, today: date) -> tuple[date, date, str]:
    """The days asked for (``YYYY-MM-DD``, at most MAX_PERIODS periods), else the last few periods up to
    today."""
    kind = kind if kind in PERIOD_KINDS else "month"
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        if len(periods(first, last, kind)) <= MAX_PERIODS:
            return first, last, kind
    except ValueError:
        pass
    back = SPANS[kind] - 1
    first = (today.replace(day=1) - timedelta(days=31 * back)).replace(day=1) if kind == "month" \
        else today - timedelta(weeks=back)
    return first, today, kind


def _label(t: Translator) -> dict:
    """How each table's labels are shown."""
    def role(r):
        return t(f"role_{r['label']}") if r["label"] in ROLES else _plain(r, t)

    def kind(r):
        found = KINDS.get(r["group"])
        return (found.title_ja if t.lang == "ja" else found.title_en) if found else _plain(r, t)

    def protocol(r):
        return _plain(r, t) if r["label"] == OTHER else f"{r['label']} ({r['group']})"

    return {"role": role, "kind": kind, "protocol": protocol,
            "practice": lambda r: t(f"practice_{r['label']}") if r["label"] != OTHER else t("stats_other"),
            "plain": lambda r: _plain(r, t)}


def _plain(r, t: Translator) -> str:
    return {OTHER: t("stats_other"), "unknown": t("stats_unknown"), "unlisted": t("stats_unlisted")}.get(
        r["label"], r["label"])


def stats_context(found: Stats, t: Translator) -> dict:
    names = sorted({r["period"] for r in found.rows})
    label = _label(t)
    charts = (
        ("devices_role", "devices_by_role", "device_share", label["role"], True, False),
        ("devices_vendor", "devices_by_vendor", "device_share", label["plain"], True, False),
        ("protocols", "protocols", "byte_share", label["protocol"], True, False),
        ("ot_functions", "ot_functions", "site_share", label["plain"], True, True),
        ("insecure", "insecure_practices", "site_share", label["practice"], True, True),
        ("alerts", "alerts", "alerts_per_site", label["kind"], False, False),
        ("vulnerabilities", "vulnerabilities", "site_share", label["plain"], True, True),
        ("fleet_uptime", "fleet_health", "uptime_median", lambda r: t("stats_uptime_median"), True, True),
    )
    latest = {r["table"]: r for r in found.rows if r["period"] == (names[-1] if names else "") and r["label"] == "all"}
    fleet = {r["measure"]: r["value"] for r in found.rows if r["table"] == "fleet_health" and names
             and r["period"] == names[-1]}
    return {
        "periods": names,
        "figures": {key: embed(trend_figure(found.rows, names, table, measure, fn, percent, lines))
                    for key, table, measure, fn, percent, lines in charts},
        "totals": latest.get("totals"),
        "fleet": fleet,
        "suppressed": sorted((key.split("/")[0], key.split("/")[1], reason, n)
                             for key, reasons in found.suppressed.items() for reason, n in reasons.items()),
        "suppressed_total": sum(n for reasons in found.suppressed.values() for n in reasons.values()),
        "min_sites": found.k, "min_devices": found.m,
    }


@router.get("/stats", name="stats")
def stats_page(request: Request, user: SessionUser, allowed: DataTeamSession, db: DB, ch: ClickHouse,
               settings: SettingsDep, now: Now, start: str = "", end: str = "", period: str = "month") -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    if not allowed:
        return page(request, "error.html", status_code=403, message="stats_only", user=user)
    first, last, kind = shown_span(start, end, period, now.date())
    found = statistics(ch, db, first, last, kind, settings.stats_k, settings.stats_m, now)
    record_read(db, user.email, "stats.view", "the data team's dashboard page", first, last, kind)
    t = translator(request_lang(request))
    return page(request, "stats.html", user=user, start=first.isoformat(), end=last.isoformat(), kind=kind,
                kinds=PERIOD_KINDS, **stats_context(found, t))
