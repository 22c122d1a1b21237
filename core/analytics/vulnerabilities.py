"""Known vulnerabilities of a tenant's devices: the ledger's vendor, model and firmware matched
against the imported advisories (``core.vulns``), by device and by CVE, with CVSS severities."""

from __future__ import annotations

from collections.abc import Iterable

from core.analytics.assets import ledger
from core.analytics.ledger import SUMMARY_ATTRIBUTES, Asset
from core.store.clickhouse import ClickHouseStore
from core.vulns.match import DeviceId, VulnMatch, match_devices

# CVSS v3 qualitative ratings, most severe first (a score at or above the bound).
SEVERITIES = (("critical", 9.0), ("high", 7.0), ("medium", 4.0), ("low", 0.1), ("none", 0.0))


def severity(cvss: float) -> str:
    return next(name for name, bound in SEVERITIES if cvss >= bound)


def device_id(asset: Asset) -> DeviceId:
    return DeviceId(asset.device, *(asset.best(*SUMMARY_ATTRIBUTES[n]) for n in ("vendor", "model", "firmware")))


def by_device(ch: ClickHouseStore, assets: Iterable[Asset]) -> dict[str, list[VulnMatch]]:
    """Device key → its matches, most severe first (devices without any left out)."""
    return match_devices(ch, (device_id(a) for a in assets))


def summary_id(summary: dict) -> DeviceId:
    """The device of a ledger summary (``Asset.summary()``, an API or page row)."""
    return DeviceId(summary["device"], summary["vendor"], summary["model"], summary["firmware"])


def for_device(ch: ClickHouseStore, summary: dict) -> list[dict]:
    """The matches of one device of the ledger, given its summary."""
    device = summary_id(summary)
    return [as_dict(m) for m in match_devices(ch, [device]).get(device.key, [])]


def counts(ch: ClickHouseStore, summaries: Iterable[dict]) -> dict:
    """For an overview: distinct CVEs, the devices they affect, and the CVEs of each severity."""
    found = match_devices(ch, (summary_id(s) for s in summaries))
    worst = {m.cve: m.cvss for matches in found.values() for m in matches}
    return {"cves": len(worst), "devices": len(found),
            **{name: sum(1 for c in worst.values() if severity(c) == name) for name, _ in SEVERITIES}}


def as_dict(match: VulnMatch) -> dict:
    return {"cve": match.cve, "cvss": match.cvss, "severity": severity(match.cvss), "advisory": match.advisory,
            "title": match.title, "remediation": match.remediation, "product": match.product,
            "confidence": match.confidence}


def tenant_vulnerabilities(ch: ClickHouseStore, tenant_id: int, min_cvss: float = 0.0,
                           confidence: str | None = None) -> dict:
    """The tenant's vulnerable devices and CVEs (scored ``min_cvss`` or more, of one confidence or
    any): ``counts`` (CVEs by severity), ``devices_affected``, ``by_cve`` (most severe first, each
    with its devices) and ``by_device``."""
    assets = ledger(ch, tenant_id)
    cves: dict[str, dict] = {}
    devices = []
    for key, found in by_device(ch, assets.values()).items():
        matches = [m for m in found if m.cvss >= min_cvss and confidence in (None, m.confidence)]
        if not matches:
            continue
        summary = assets[key].summary()
        device = {k: summary[k] for k in ("device", "ip", "vendor", "model", "firmware", "role")}
        devices.append({**device, "max_cvss": max(m.cvss for m in matches),
                        "vulnerabilities": [as_dict(m) for m in matches]})
        for m in matches:
            entry = cves.setdefault(m.cve, {"cve": m.cve, "cvss": m.cvss, "severity": severity(m.cvss),
                                            "advisories": {}, "devices": []})
            entry["cvss"] = max(entry["cvss"], m.cvss)
            entry["severity"] = severity(entry["cvss"])
            entry["advisories"][m.advisory] = m.title
            entry["devices"].append({**device, "confidence": m.confidence, "product": m.product,
                                     "advisory": m.advisory, "remediation": m.remediation})
    by_cve = sorted(({**c, "advisories": [{"advisory": a, "title": t} for a, t in sorted(c["advisories"].items())]}
                     for c in cves.values()), key=lambda c: (-c["cvss"], c["cve"]))
    counts = {name: sum(1 for c in by_cve if c["severity"] == name) for name, _ in SEVERITIES}
    devices.sort(key=lambda d: (-d["max_cvss"], d["ip"] or d["device"]))
    return {"counts": counts, "devices_affected": len(devices), "by_cve": by_cve, "by_device": devices}
