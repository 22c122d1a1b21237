"""Findings and what to do about each: ``recommendations.toml`` maps a finding (and, where it
matters, the role of the device it was found on) to a recommendation in Japanese and English."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.detect.kinds import SEVERITIES

RULES = Path(__file__).parent / "recommendations.toml"


@dataclass(frozen=True)
class Rule:
    id: str
    finding: str
    severity: str
    ja: str
    en: str
    roles: frozenset[str] = frozenset()  # empty: any device


@dataclass(frozen=True)
class Observation:
    """One finding on one device; ``values`` fill the recommendation's placeholders, ``severity``
    (when given) overrides the rule's (a vulnerability's comes from its CVSS)."""

    finding: str
    device: str
    values: tuple[tuple[str, str], ...] = ()
    severity: str = ""


@dataclass(frozen=True)
class Finding:
    rule: Rule
    devices: tuple[str, ...]
    values: tuple[tuple[str, str], ...] = ()
    stated_severity: str = ""

    @property
    def severity(self) -> str:
        return self.stated_severity or self.rule.severity

    def recommendation(self, lang: str) -> str:
        return getattr(self.rule, lang).format(**dict(self.values))


@cache
def rules() -> tuple[Rule, ...]:
    with RULES.open("rb") as f:
        table = tomllib.load(f)["rule"]
    return tuple(Rule(**{**r, "roles": frozenset(r.get("roles", ()))}) for r in table)


def rule_for(finding: str, role: str) -> Rule:
    """The first rule of ``finding`` that covers ``role``; KeyError if the finding has none."""
    for rule in rules():
        if rule.finding == finding and (not rule.roles or role in rule.roles):
            return rule
    raise KeyError(finding)


def findings(observations: Iterable[Observation], role_of: Callable[[str], str]) -> list[Finding]:
    """Observations grouped by the rule that answers them: most severe first, then most devices."""
    grouped: dict[tuple[Rule, tuple, str], set[str]] = {}
    for o in observations:
        grouped.setdefault((rule_for(o.finding, role_of(o.device)), o.values, o.severity), set()).add(o.device)
    found = [Finding(rule, tuple(sorted(devices)), values, severity)
             for (rule, values, severity), devices in grouped.items()]
    return sorted(found, key=lambda f: (SEVERITIES.index(f.severity), -len(f.devices), f.rule.id, f.values))
