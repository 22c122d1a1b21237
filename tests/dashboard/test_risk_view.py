"""The risk words on the pages: every level and factor the core names has its message, and a
factor's parts are said in the page's language (severities, roles, importance, the risk terms)."""

from __future__ import annotations

import pytest

from core.analytics import risk
from dashboard.i18n import MESSAGES, translator
from dashboard.riskview import COMPUTED_KEYS, SPOKEN, say


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_level_factor_and_term_has_a_message(lang):
    keys = {f"risk_level_{level}" for level in risk.LEVELS} | {f"risk_factor_{name}" for name in risk.FACTORS}
    assert keys == set(COMPUTED_KEYS)
    spoken = {term for term in risk.TERMS if term and not term.startswith("importance_")}
    assert {f"risk_term_{term}" for term in spoken} == set(SPOKEN)
    assert all(MESSAGES[lang][key] for key in keys | set(SPOKEN))


def test_parts_are_said_in_the_pages_language():
    parts = [("critical", "1"), ("high", "2")]
    assert say(parts, translator("en")) == "Critical 1, High 2"
    assert say(parts, translator("ja")) == "緊急 1, 高 2"
    role = [("engineering_workstation", "×1.4"), ("importance_high", "×1.3")]
    assert say(role, translator("ja")) == "エンジニアリングWS ×1.4, 重要度 高 ×1.3"
    exposure = [("internet_inbound", ""), ("remote_access", "rdp ssh")]
    assert say(exposure, translator("ja")) == "インターネットから受信, リモートアクセス rdp ssh"
    assert say([("", "CVE-2017-14028"), ("cvss", "9.8")], translator("en")) == "CVE-2017-14028, CVSS 9.8"
