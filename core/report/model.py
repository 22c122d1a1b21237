"""What the assessment report says for a tenant and period, as plain data the template renders:
the devices seen, alerts, insecure protocols in use and the findings with what to do about each,
each count beside the previous period's of equal length."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from core.analytics.assets import ledger
from core.analytics.changes import changes
from core.analytics.ledger import Asset, ip_order
from core.analytics.risk import Risk, device_risk, level, site_summary, weights_from_settings
from core.analytics.vulnerabilities import by_device as vulnerabilities_of
from core.analytics.vulnerabilities import severity as cvss_severity
from core.detect import store as alerts
from core.report.insecure import insecure_uses, site_owners
from core.report.period import Period
from core.report.recommend import Finding, Observation, findings
from core.store.clickhouse import ClickHouseStore
from core.vulns.match import VulnMatch

TOP_ALERTS = 10
TOP_VENDORS = 10
RISKIEST = 10
# Alert kinds that are findings of their own (insecure protocols come from insecure.py), and the
# sides of the alert the finding is about: a scan is its source's, a remote session its server's.
ALERT_FINDINGS = {
    "indicator_match": ("indicator_match", ("src", "dst")),
    "internet_exposure": ("internet_exposure", ("src", "dst")),
    "plc_stop": ("plc_change", ("dst",)), "plc_start": ("plc_change", ("dst",)),
    "plc_program_change": ("plc_change", ("dst",)), "firmware_change": ("plc_change", ("dst",)),
    "new_ot_function": ("plc_change", ("dst",)),
    "scan": ("scan", ("src",)), "remote_access": ("remote_access", ("dst",)),
    "new_device": ("unknown_device", ("src", "dst")),
}


@dataclass(frozen=True)
class Device:
    """A device as the report names it."""

    key: str
    ip: str
    name: str  # hostname, else model, else ""
    role: str  # "" when unknown
    vendor: str
    model: str
    firmware: str

    @classmethod
    def of(cls, a: Asset) -> Device:
        s = a.summary()
        return cls(a.device, s["ip"], s["hostname"] or s["model"], s["role"], s["vendor"], s["model"],
                   s["firmware"])


@dataclass
class Report:
    tenant: str
    period: Period
    generated: datetime
    devices: dict[str, Device]  # seen in the period, by key
    devices_previous: int
    alerts: dict[str, int]  # by severity, every severity
    alerts_previous: dict[str, int]
    alert_kinds: list[dict]  # kind, severity, n
    top_alerts: list[dict]  # the most severe, as the API shows them
    insecure: dict[str, list[str]]  # protocol → device keys
    riskiest: list[tuple[Device, Risk, str]]  # devices with a risk, highest first, with the level
    site: dict  # core.analytics.risk.site_summary of the devices: score, level, counts by level
    site_score_previous: int | None  # the last daily snapshot (risk_daily) taken in the previous period
    vulnerabilities: dict[str, list[VulnMatch]]  # device key → its matches (devices with any)
    changes: dict  # core.analytics.changes.changes: the previous period against this one
    findings: list[Finding]  # most severe first

    @property
    def previous(self) -> Period:
        return self.period.previous()

    @property
    def alerts_total(self) -> int:
        return sum(self.alerts.values())

    @property
    def alerts_previous_total(self) -> int:
        return sum(self.alerts_previous.values())

    @property
    def insecure_devices(self) -> set[str]:
        return {key for keys in self.insecure.values() for key in keys}

    @property
    def roles(self) -> list[tuple[str, int]]:
        """Devices per role, most first (unknown role as "")."""
        return Counter(d.role for d in self.devices.values()).most_common()

    @property
    def vendors(self) -> list[tuple[str, int]]:
        """Devices per vendor, the most common ones, then the rest as one "" entry."""
        counts = Counter(d.vendor for d in self.devices.values() if d.vendor).most_common()
        rest = len(self.devices) - sum(n for _, n in counts[:TOP_VENDORS])
        return counts[:TOP_VENDORS] + ([("", rest)] if rest else [])

    def device(self, key: str) -> Device:
        """A device of the report, or one known only by the key an alert or event gave."""
        return self.devices.get(key) or Device(key, key, "", "", "", "", "")


def build_report(ch: ClickHouseStore, tenant_id: int, tenant: str, period: Period) -> Report:
    previous = period.previous()
    assets = ledger(ch, tenant_id, start=period.start, end=period.end)
    devices = {k: Device.of(a) for k, a in sorted(assets.items(), key=lambda ka: ip_order(ka[1].ip))}
    found_changes = changes(ch, tenant_id, (previous.start, previous.end), (period.start, period.end), volatile=False)
    weights = weights_from_settings()
    risks = device_risk(ch, tenant_id, assets, weights)
    ranked = sorted(((k, r) for k, r in risks.items() if r.score), key=lambda kr: (-kr[1].score, kr[0]))
    uses = insecure_uses(ch, tenant_id, period, assets)
    insecure: dict[str, list[str]] = {}
    for use in uses:
        insecure.setdefault(use.protocol, []).append(use.device)
    vulnerable = vulnerabilities_of(ch, assets.values())

    observed = [Observation(u.protocol, u.device) for u in uses]
    observed += _alert_observations(alerts.list_alerts(ch, tenant_id, period.start, period.end,
                                                       kind=list(ALERT_FINDINGS), limit=alerts.MAX_PAGE), assets)
    observed += [Observation("vulnerability", key, _vuln_values(m), _vuln_severity(m.cvss))
                 for key, matches in vulnerable.items() for m in matches]
    observed += [Observation("unknown_device", k) for k, a in assets.items()
                 if a.annotation.get("authorized") == "unauthorized"]

    totals = found_changes["totals"]
    return Report(
        tenant=tenant, period=period, generated=datetime.now(UTC), devices=devices,
        devices_previous=len(assets) - totals["devices_added"] + totals["devices_removed"],
        alerts=alerts.counts_by_severity(ch, tenant_id, period.start, period.end),
        alerts_previous=alerts.counts_by_severity(ch, tenant_id, previous.start, previous.end),
        alert_kinds=alerts.counts_by_kind(ch, tenant_id, period.start, period.end),
        top_alerts=alerts.list_alerts(ch, tenant_id, period.start, period.end, sort="severity", limit=TOP_ALERTS),
        insecure=insecure,
        riskiest=[(devices[k], r, level(r.score, weights)) for k, r in ranked[:RISKIEST]],
        site=site_summary([r.score for r in risks.values()], weights),
        site_score_previous=_site_score_in(ch, tenant_id, previous),
        vulnerabilities=vulnerable, changes=found_changes,
        findings=findings(observed, lambda key: devices[key].role if key in devices else ""),
    )


def _site_score_in(ch: ClickHouseStore, tenant_id: int, period: Period) -> int | None:
    """The site's risk score of the last day (UTC) in ``period`` that has a snapshot."""
    row = ch.query("SELECT argMax(score, day) AS score, count() AS n FROM risk_daily FINAL"
                   " WHERE tenant_id = {t:UInt32} AND day >= {a:Date} AND day < {b:Date}",
                   {"t": tenant_id, "a": period.start.date(), "b": period.end.date()})[0]
    return row["score"] if row["n"] else None


def _alert_observations(found: list[dict], assets: dict[str, Asset]) -> list[Observation]:
    """Each alert's finding on each of its sides that is a device of the period: by the side's IP
    when it has one, else by its device key."""
    owner = site_owners(assets)
    out = []
    for alert in found:
        finding, sides = ALERT_FINDINGS[alert["kind"]]
        for side in (alert[name] for name in sides):
            key = owner.get(side["ip"]) if side["ip"] else side["device"] if side["device"] in assets else None
            if key:
                out.append(Observation(finding, key))
    return out


def _vuln_severity(cvss: float) -> str:
    """The CVSS v3 rating as an alert severity (a score of 0, "none", is low)."""
    rating = cvss_severity(cvss)
    return "low" if rating == "none" else rating


def _vuln_values(match: VulnMatch) -> tuple[tuple[str, str], ...]:
    return (("cve", match.cve), ("cvss", f"{match.cvss:g}"), ("advisory", match.advisory),
            ("remediation", match.remediation or "-"))
