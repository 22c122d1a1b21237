"""The overview's site risk: today's summary, its trend and the riskiest devices
(``core.analytics.risk``; the device page explains a score from the ledger row's factors)."""

from __future__ import annotations

from core.analytics import risk
from core.store.clickhouse import ClickHouseStore
from dashboard import figures
from dashboard.assets import _role_label as role_label
from dashboard.i18n import N_, Translator

# Messages named by computed keys ("risk_level_" ~ level, "risk_factor_" ~ name); tests/core/test_risk.py
# checks each level and factor has one.
COMPUTED_KEYS = (
    N_("risk_level_high"), N_("risk_level_medium"), N_("risk_level_low"),
    N_("risk_factor_alerts"), N_("risk_factor_vulnerabilities"), N_("risk_factor_exposure"),
    N_("risk_factor_insecure_services"), N_("risk_factor_unauthorized"), N_("risk_factor_zones"),
    N_("risk_factor_role"),
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

