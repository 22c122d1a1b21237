"""The overview's site risk: today's summary, its trend and the riskiest devices
(``core.analytics.risk``; the device page explains a score from the ledger row's factors)."""

from __future__ import annotations

from core.analytics import risk
from core.detect.kinds import SEVERITIES
from core.store.clickhouse import ClickHouseStore
from dashboard import figures
from dashboard.assets import _role_label as role_label
from dashboard.i18n import N_, Translator

# Messages named by computed keys ("risk_level_" ~ level, "risk_factor_" ~ name); test_risk_view.py
# checks each level and factor has one.
COMPUTED_KEYS = (
    N_("risk_level_high"), N_("risk_level_medium"), N_("risk_level_low"),
    N_("risk_factor_alerts"), N_("risk_factor_vulnerabilities"), N_("risk_factor_exposure"),
    N_("risk_factor_insecure_services"), N_("risk_factor_unauthorized"), N_("risk_factor_zones"),
    N_("risk_factor_role"),
)
# Words of a factor's parts said by the catalogue (risk_term_…); severities, roles and importance have
# their own messages, protocols and names are said as they are.
SPOKEN = (
    N_("risk_term_cvss"), N_("risk_term_exact"), N_("risk_term_family"), N_("risk_term_cves"),
    N_("risk_term_internet_inbound"), N_("risk_term_internet_outbound"), N_("risk_term_remote_access"),
    N_("risk_term_smbv1"), N_("risk_term_default_credentials"), N_("risk_term_cleartext_credentials"),
    N_("risk_term_marked_unauthorized"), N_("risk_term_new_unauthorized"),
)


def site_context(ch: ClickHouseStore, tenant: int, devices: list[dict], t: Translator) -> dict:
    """The overview's risk card: today's site score and counts by level, the trend, the riskiest devices."""
    weights = risk.weights_from_settings()
    site = risk.site_risk(ch, tenant, devices, weights)
    return site | {
        "site_top": weights.site_top,
        "level_label": t(f"risk_level_{site['level']}"),
        "levels": [(name, t(f"risk_level_{name}"), site[name]) for name in risk.LEVELS],
        "top": [d | {"role_label": role_label(d["role"], t)} for d in site["top"][:5]],
        # no devices, nothing to chart (the snapshot is kept all the same)
        "figure": figures.embed(figures.risk_trend_figure(site["trend"], t)) if devices else None,
    }


def say(parts: list, t: Translator) -> str:
    """A factor's detail in the page's language, from its (term, value) parts (the ``risk_parts``
    template filter)."""
    return ", ".join(f"{_term(term, t)} {value}".strip() for term, value in parts)


def _term(term: str, t: Translator) -> str:
    if term in SEVERITIES:
        return t(f"severity_{term}")
    if term.startswith("importance_"):
        return f"{t('importance')} {t(term)}"
    if f"risk_term_{term}" in SPOKEN:
        return t(f"risk_term_{term}")
    return role_label(term, t)  # a role in the page's language; a protocol or name as it is
