"""The report's own catalogue (core/report/messages.toml) and recommendation rules: every key the
template and the code use is there, in Japanese and English with the same placeholders, nothing
unused; every finding the report can make has a rule for any device."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from core.analytics.changes import LISTS
from core.analytics.risk import FACTORS, LEVELS, TERMS
from core.detect.kinds import SEVERITIES
from core.report import model
from core.report.catalogue import LANGS, Words, messages
from core.report.insecure import INSECURE
from core.report.recommend import Observation, findings, rule_for, rules
from core.vulns.match import CONFIDENCE

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

REPORT = Path(model.__file__).parent
ROLES = ("plc", "hmi", "engineering_workstation", "server", "camera", "nvr", "router", "switch", "iot")
FINDINGS = {*INSECURE, *(finding for finding, _ in model.ALERT_FINDINGS.values()), "vulnerability"}


def literal_keys() -> set[str]:
    """Keys named literally: t("key") in the template and the renderer."""
    sources = [REPORT / "templates" / "report.html", REPORT / "render.py"]
    return {m for p in sources for m in re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", p.read_text())}


def computed_keys() -> set[str]:
    """Keys the template computes from a value: "severity_" ~ s, "role_" ~ d.role, …"""
    return ({f"severity_{s}" for s in SEVERITIES} | {f"role_{r}" for r in (*ROLES, "unknown")}
            | {f"insecure_{p}" for p in INSECURE} | {f"finding_{f}" for f in FINDINGS}
            | {f"factor_{f}" for f in FACTORS} | {f"level_{level}" for level in LEVELS}
            | {f"confidence_{c}" for c in CONFIDENCE} | {f"changes_{name}" for name in LISTS}
            | {f"term_{term}" for term in TERMS if term})


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_used_is_there_and_every_key_there_is_used():
    used = literal_keys() | computed_keys()
    assert used - messages().keys() == set()
    assert messages().keys() - used == set()


@pytest.mark.parametrize("key", sorted(messages()))
def test_both_languages_with_the_same_placeholders(key):
    entry = messages()[key]
    assert set(entry) == set(LANGS) and all(entry[lang].strip() for lang in LANGS)
    assert placeholders(entry["ja"]) == placeholders(entry["en"])


def test_words_fill_placeholders_and_refuse_an_unknown_language():
    assert Words("en")("affected_devices", n=3) == "Devices (3)"
    assert "3" in Words("ja")("affected_devices", n=3)
    with pytest.raises(ValueError):
        Words("fr")


def test_every_finding_has_a_rule_for_any_role_with_both_languages():
    for finding in FINDINGS:
        for role in (*ROLES, ""):
            assert rule_for(finding, role).finding == finding
    for rule in rules():
        assert rule.severity in SEVERITIES
        assert placeholders(rule.ja) == placeholders(rule.en), rule.id
        assert rule.finding in FINDINGS, rule.id
    assert rule_for("telnet", "plc").id == "telnet_controller" and rule_for("telnet", "camera").id == "telnet"
    assert len({r.id for r in rules()}) == len(rules())


def test_a_vulnerability_is_as_severe_as_its_cvss_and_devices_share_a_finding():
    observed = [Observation("vulnerability", device, (("cve", "CVE-1"), ("cvss", "9.8"), ("advisory", "A"),
                                                       ("remediation", "update")), "critical")
                for device in ("plc-1", "plc-2")] + [Observation("telnet", "plc-1"), Observation("telnet", "cam")]
    found = findings(observed, {"plc-1": "plc", "plc-2": "plc", "cam": "camera"}.get)
    assert [(f.rule.id, f.severity, f.devices) for f in found] == [
        ("vulnerability", "critical", ("plc-1", "plc-2")), ("telnet_controller", "critical", ("plc-1",)),
        ("telnet", "high", ("cam",))]  # most severe, then most devices
    assert "CVE-1" in found[0].recommendation("en") and "update" in found[0].recommendation("ja")
