"""Device risk: a score from 0 to 100 per device, with every factor that makes it up.

Each factor's points are capped on their own, the capped points are added, the sum is multiplied
by the device's role and the analyst's importance, and the product is capped at 100. The points,
caps and multipliers are configuration (``core.config.RiskWeights``, ``MIERUKA_RISK`` or
``MIERUKA_RISK_FILE``); docs/risk.md gives the defaults and the reasons for them.

- ``alerts``: each open alert (new or acknowledged) that names the device on either side (by IP,
  or by MAC where the side has no IP), by severity (critical 30, high 20, medium 10, low 3, info 0), up to 40.
- ``vulnerabilities``: the worst known vulnerability's CVSS × 4 (a match on vendor and product
  family only, version unknown, counts half), up to 40.
- ``exposure``: a public host reached it (25) or it reached one (15), from open
  ``internet_exposure`` alerts or public peers in the hourly pairs of the last 30 days; it accepts
  remote access (15), from open ``remote_access`` alerts or a remote-access service it serves;
  up to 30.
- ``insecure_services``: Telnet 10, FTP 8, HTTP 5, SNMP 5 served (the rollups keep no SNMP
  version, so every SNMP agent counts as v1/v2c); SMBv1 10, default credentials 20, cleartext
  credentials 5 from open alerts where the device is the server; up to 30.
- ``unauthorized``: the analyst marked it unauthorised (25); or it appeared after learning (an open
  ``new_device`` alert) and nobody has authorised it (10).
- ``zones``: 5 per other zone (``core.analytics.zones``: the analyst's, else its VLAN or subnet) it
  talks with in the hourly pairs of the last 30 days, up to 15.
- ``role``: the sum × the role's weight (PLC 1.5, engineering workstation 1.4, HMI 1.2, server
  1.1, else 1) × the importance's (critical 1.5, high 1.3, medium 1.1, low 0.9, unrated 1); the
  factor's points are what the multiplication added (negative for low importance).

The score is the total capped at 100; a level names it (high from 70, medium from 40, else low).
The site's score is the mean of its five highest device scores; ``site_risk`` keeps a snapshot a day
(``risk_daily``; ``core.analytics.risktrend`` computes it hourly) so the summary has a trend.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from core.analytics.kept import INGEST, LEDGER_TOTAL, PINNING, Kept, Same
from core.analytics.ledger import SUMMARY_ATTRIBUTES, Asset
from core.analytics.spans import pair_volume_rows, whole_days
from core.analytics.window import LATEST
from core.analytics.zones import device_zones
from core.config import RiskWeights, Settings
from core.detect.kinds import OPEN_STATUSES, SEVERITIES
from core.detect.rules.remote import REMOTE
from core.detect.site import Site
from core.store.clickhouse import ClickHouseStore
from core.vulns.match import DeviceId, match_devices

LEVELS = ("high", "medium", "low")
FACTORS = ("alerts", "vulnerabilities", "exposure", "insecure_services", "unauthorized", "zones", "role")
# Alert kinds whose server side (dst) offers an insecure service; an SMBv1 browser announcement's
# sender (src, key "announcement:…") runs SMBv1 itself.
INSECURE_ALERTS = ("smbv1", "default_credentials", "cleartext_credentials")
INSECURE_SERVED = ("telnet", "ftp", "http", "snmp")
TREND_DAYS = 30


# How the English detail says a part's term (a term not listed is said as it is: a severity, a role,
# a protocol); the dashboard says each term in the page's language.
TERMS = {"": "", "cvss": "CVSS", "exact": "exact match", "family": "vendor and family match", "cves": "CVEs",
         "internet_inbound": "internet inbound", "internet_outbound": "internet outbound",
         "remote_access": "remote access", "smbv1": "SMBv1", "default_credentials": "default credentials",
         "cleartext_credentials": "cleartext credentials", "marked_unauthorized": "marked unauthorized",
         "new_unauthorized": "new since learning, not authorized", "importance_critical": "importance critical",
         "importance_high": "importance high", "importance_medium": "importance medium",
         "importance_low": "importance low"}


@dataclass(frozen=True)
class Factor:
    name: str
    points: int
    detail: str  # what it rests on, in English
    parts: tuple[tuple[str, str], ...] = ()  # the detail as (term, value) pairs, for other languages

    def as_dict(self) -> dict:
        """As ``dataclasses.asdict`` gives it, a tenth of the time (its deep copy of the parts is not
        needed: they are tuples of strings)."""
        return {"name": self.name, "points": self.points, "detail": self.detail, "parts": self.parts}


def factor(name: str, points: float, parts: list[tuple[str, str]]) -> Factor:
    detail = ", ".join(f"{TERMS.get(term, term)} {value}".strip() for term, value in parts)
    return Factor(name, round(points), detail, tuple(parts))


@dataclass(frozen=True)
class Risk:
    score: int
    factors: tuple[Factor, ...]

    @property
    def total(self) -> int:
        """The points before the cap at 100."""
        return sum(f.points for f in self.factors)


@dataclass
class Evidence:
    """What is known about one device, gathered for the whole tenant at once."""

    alerts: dict[str, int] = field(default_factory=dict)  # severity → open alerts
    internet_in: bool = False
    internet_out: bool = False
    remote: set[str] = field(default_factory=set)  # remote-access services it accepts
    insecure: set[str] = field(default_factory=set)
    new_unapproved: bool = False
    vulns: list = field(default_factory=list)  # VulnMatch
    zones: set[str] = field(default_factory=set)  # other zones it talks with


def level(score: int, weights: RiskWeights) -> str:
    return "high" if score >= weights.high else "medium" if score >= weights.medium else "low"


def weights_from_settings() -> RiskWeights:
    return Settings().risk_weights


def device_risk(ch: ClickHouseStore, tenant_id: int, assets: dict[str, Asset],
                weights: RiskWeights | None = None, now: datetime | None = None) -> dict[str, Risk]:
    """Each device's risk, by device key."""
    weights = weights or weights_from_settings()
    evidence = gather(ch, tenant_id, assets, weights, now or datetime.now(UTC))
    return {key: score(asset, evidence[key], weights) for key, asset in assets.items()}


def score(asset: Asset, found: Evidence, w: RiskWeights) -> Risk:
    """One device's risk from what is known about it."""
    factors = [f for f in (
        _alerts(found, w), _vulns(found, w), _exposure(found, w), _insecure(found, w),
        _unauthorized(asset, found, w), _zones(found, w)) if f.points]
    base = sum(f.points for f in factors)
    role = asset.role.value if asset.role else ""
    importance = asset.annotation.get("importance", "")
    multiplier = w.role.get(role, 1.0) * w.importance.get(importance, 1.0)
    weighted = round(base * multiplier)
    if weighted != base:
        parts = [(term, f"×{weight:g}") for term, weight in (
            (role, w.role.get(role, 1.0)), (f"importance_{importance}", w.importance.get(importance, 1.0)))
            if weight != 1.0]
        factors.append(factor("role", weighted - base, parts))
    return Risk(max(0, min(100, weighted)), tuple(factors))


def _capped(name: str, points: float, cap: float, parts: list[tuple[str, str]]) -> Factor:
    return factor(name, min(points, cap), parts)


def _alerts(found: Evidence, w: RiskWeights) -> Factor:
    counts = [(s, found.alerts[s]) for s in SEVERITIES if found.alerts.get(s)]
    return _capped("alerts", sum(w.alert.get(s, 0) * n for s, n in counts), w.alerts_cap,
                   [(s, str(n)) for s, n in counts])


def _vulns(found: Evidence, w: RiskWeights) -> Factor:
    if not found.vulns:
        return factor("vulnerabilities", 0, [])
    share = {"exact": 1.0, "family": w.family_share}
    worst = max(found.vulns, key=lambda v: (v.cvss or 0) * share.get(v.confidence, 0))
    points = (worst.cvss or 0) * share.get(worst.confidence, 0) * w.cvss
    cves = len({v.cve for v in found.vulns})
    return _capped("vulnerabilities", points, w.vulns_cap,
                   [("", worst.cve), ("cvss", f"{worst.cvss:g}"), (worst.confidence, ""), ("cves", str(cves))])


def _exposure(found: Evidence, w: RiskWeights) -> Factor:
    parts = [(w.internet_inbound, ("internet_inbound", "")) if found.internet_in else None,
             (w.internet_outbound, ("internet_outbound", "")) if found.internet_out else None,
             (w.remote_access, ("remote_access", " ".join(sorted(found.remote)))) if found.remote else None]
    parts = [p for p in parts if p]
    return _capped("exposure", sum(p for p, _ in parts), w.exposure_cap, [part for _, part in parts])


def _insecure(found: Evidence, w: RiskWeights) -> Factor:
    names = sorted(found.insecure, key=lambda n: (-w.insecure.get(n, 0), n))
    return _capped("insecure_services", sum(w.insecure.get(n, 0) for n in names), w.insecure_cap,
                   [(n, "") for n in names])


def _unauthorized(asset: Asset, found: Evidence, w: RiskWeights) -> Factor:
    said = asset.annotation.get("authorized", "unknown")
    if said == "unauthorized":
        return factor("unauthorized", w.unauthorized, [("marked_unauthorized", "")])
    if said != "authorized" and found.new_unapproved:
        return factor("unauthorized", w.unapproved_new, [("new_unauthorized", "")])
    return factor("unauthorized", 0, [])


def _zones(found: Evidence, w: RiskWeights) -> Factor:
    return _capped("zones", w.zone * len(found.zones), w.zones_cap, [("", z) for z in sorted(found.zones)])


# --- gathering: one query per source for the whole tenant ---------------------------------------

def gather(ch: ClickHouseStore, tenant_id: int, assets: dict[str, Asset], w: RiskWeights,
           now: datetime) -> dict[str, Evidence]:
    found = {key: Evidence() for key in assets}
    owner = _owners(assets)
    _from_alerts(ch, tenant_id, owner, found)
    _from_services(assets, found)
    _from_pairs(ch, tenant_id, owner, found, pairs_from(now, w), device_zones(ch, tenant_id, assets))
    _from_advisories(ch, assets, found)
    return found


def _owners(assets: dict[str, Asset]) -> dict[str, str]:
    """Device key, MAC or IP → device key."""
    owner: dict[str, str] = {}
    for key, a in assets.items():
        for ip in a.ips:
            owner.setdefault(ip, key)
        if a.mac:
            owner[a.mac] = key
        owner[key] = key
    return owner


def _side(owner: dict[str, str], row: dict, side: str) -> str | None:
    """The device on one side of an alert: by its IP when it has one (a public host's frames carry
    the router's MAC), else by its MAC or device key."""
    ip = row[f"{side}_ip"]
    if ip:
        return owner.get(ip)
    return owner.get(row[f"{side}_mac"]) or owner.get(row[f"{side}_device"])


def _from_alerts(ch: ClickHouseStore, tenant_id: int, owner: dict[str, str], found: dict[str, Evidence]) -> None:
    rows = ch.query(
        "SELECT kind, key, severity, protocol, src_ip, src_mac, src_device, dst_ip, dst_mac, dst_device"
        " FROM alerts FINAL WHERE tenant_id = {t:UInt32} AND status IN {open:Array(String)}",
        {"t": tenant_id, "open": list(OPEN_STATUSES)})
    for row in rows:
        src, dst = _side(owner, row, "src"), _side(owner, row, "dst")
        for key in {src, dst} - {None}:
            counts = found[key].alerts
            counts[row["severity"]] = counts.get(row["severity"], 0) + 1
        kind = row["kind"]
        if kind == "internet_exposure":
            inbound = row["key"].startswith("inbound:")
            if (site := dst if inbound else src) is not None:
                setattr(found[site], "internet_in" if inbound else "internet_out", True)
        elif kind == "remote_access" and dst is not None:
            found[dst].remote.add(row["protocol"] or "remote")
        elif kind in INSECURE_ALERTS:
            server = src if row["key"].startswith("announcement:") else dst
            if server is not None:
                found[server].insecure.add(kind)
        elif kind == "new_device":
            for key in {src, dst} - {None}:
                found[key].new_unapproved = True


def _from_services(assets: dict[str, Asset], found: dict[str, Evidence]) -> None:
    for key, a in assets.items():
        found[key].remote |= REMOTE & a.served.keys()
        found[key].insecure |= set(INSECURE_SERVED) & a.served.keys()


def pairs_from(now: datetime, w: RiskWeights) -> datetime:
    """The first hour of the pairs risk reads: the first whole one of the last ``w.days`` days."""
    since = now - timedelta(days=w.days)
    first = since.replace(minute=0, second=0, microsecond=0)
    return first + timedelta(hours=1) if first < since else first


def _from_pairs(ch: ClickHouseStore, tenant_id: int, owner: dict[str, str], found: dict[str, Evidence],
                first: datetime, zone: dict[str, str]) -> None:
    """Public peers and peers in other zones, from the pairs of the hours from ``first`` on (whole
    days from the daily rollup)."""
    rows = ch.query(
        f"SELECT orig_h, resp_h FROM {pair_volume_rows('orig_h, resp_h, packets')}"
        " WHERE orig_h != '' AND resp_h != '' GROUP BY orig_h, resp_h HAVING sum(packets) > 0",
        {"tenant": tenant_id, "start": first, "end": LATEST, **whole_days(first, LATEST)})
    public = Site(tenant_id).is_public  # the default site networks: the tenant's are the control plane's
    for row in rows:
        orig, resp = owner.get(row["orig_h"]), owner.get(row["resp_h"])
        if orig and public(row["resp_h"]):
            found[orig].internet_out = True
        if resp and public(row["orig_h"]):
            found[resp].internet_in = True
        if orig and resp and zone.get(orig) and zone.get(resp) and zone[orig] != zone[resp]:
            found[orig].zones.add(zone[resp])
            found[resp].zones.add(zone[orig])



def _from_advisories(ch: ClickHouseStore, assets: dict[str, Asset], found: dict[str, Evidence]) -> None:
    """The imported advisories' matches on each device's vendor, model and firmware."""
    ids = [DeviceId(key, *(a.best(*SUMMARY_ATTRIBUTES[name]) for name in ("vendor", "model", "firmware")))
           for key, a in assets.items()]
    for key, matches in match_devices(ch, ids).items():
        found[key].vulns = matches

# --- the site ---------------------------------------------------------------------------------

def site_summary(scores: list[int], w: RiskWeights) -> dict:
    """The site's score (mean of the highest ``site_top`` device scores), max, mean and counts by level."""
    scores = sorted(scores, reverse=True)
    top = scores[:max(w.site_top, 1)]
    by_level = defaultdict(int)
    for s in scores:
        by_level[level(s, w)] += 1
    site = round(sum(top) / len(top)) if top else 0
    return {"score": site, "level": level(site, w), "max_score": scores[0] if scores else 0,
            "mean_score": round(sum(scores) / len(scores), 1) if scores else 0.0,
            "devices": len(scores), **{name: by_level[name] for name in LEVELS}}


def site_risk(ch: ClickHouseStore, tenant_id: int, devices: list[dict], weights: RiskWeights | None = None,
              now: datetime | None = None, days: int = TREND_DAYS) -> dict:
    """Today's site summary of ``devices`` (ledger rows with ``risk``), its trend by day (the
    stored snapshots; today's written when its figures changed) and the ten riskiest devices."""
    weights = weights or weights_from_settings()
    now = now or datetime.now(UTC)
    today = site_summary([d["risk"] for d in devices], weights)
    trend = _trend(ch, tenant_id, now.date() - timedelta(days=days - 1))
    snapshot = {"day": now.date(), **_figures(today)}
    if not trend or trend[-1] != snapshot:
        ch.insert_rows("risk_daily", [{"tenant_id": tenant_id, "computed_at": now, **snapshot}])
        trend = [d for d in trend if d["day"] != now.date()] + [snapshot]
    ranked = sorted((d for d in devices if d["risk"]), key=lambda d: (-d["risk"], d["device"]))[:10]
    return {**today, "trend": trend, "top": [{"device": d["device"], "ip": d["ip"], "role": d["role"],
                                               "score": d["risk"], "level": d["risk_level"]} for d in ranked]}


SNAPSHOT = ("score", "max_score", "mean_score", "devices", *LEVELS)


def _figures(row: dict) -> dict:
    return {k: round(row[k], 1) if k == "mean_score" else row[k] for k in SNAPSHOT}


def _trend(ch: ClickHouseStore, tenant_id: int, since: date) -> list[dict]:
    rows = ch.query(
        f"SELECT day, {', '.join(SNAPSHOT)} FROM risk_daily FINAL"
        " WHERE tenant_id = {t:UInt32} AND day >= {since:Date} ORDER BY day",
        {"t": tenant_id, "since": since})
    return [{"day": r["day"], **_figures(r)} for r in rows]


# What changes what risk reads besides the ledger it is given: the tenant's batches (pairs), its alerts,
# advisory imports (core.analytics.kept: scores are kept until one of them does).
_SCORES: Kept[dict[str, dict]] = Kept((*INGEST, "alerts", "advisories"), size=PINNING, total=LEDGER_TOTAL)


def scored(ch: ClickHouseStore, tenant_id: int, assets: dict[str, Asset],
           weights: RiskWeights | None = None) -> dict[str, dict]:
    """Each device's score, level and factors as plain values, for the ledger's rows; kept for the
    same ledger (the very object: ``core.analytics.assets.ledger`` keeps it while its tables stay the
    same), weights and first hour of pairs until what risk reads changes."""
    weights = weights or weights_from_settings()
    now = datetime.now(UTC)

    def compute() -> dict[str, dict]:
        return {key: {"risk": r.score, "risk_level": level(r.score, weights),
                      "risk_factors": [f.as_dict() for f in r.factors]}
                for key, r in device_risk(ch, tenant_id, assets, weights, now).items()}

    return _SCORES.get(ch, tenant_id, (Same(assets), weights.model_dump_json(), pairs_from(now, weights)), compute)
