"""Devices against the imported advisories.

A device (vendor, model, firmware as the ledger or a purchase list has them) matches an advisory's
product when the vendors agree and either its model fits a model the product names (a catalogue
number, ``DS-2CD2xx2F-I``, ``CJ2M-CPU □ □``…) or both belong to the same product family (the
per-vendor tables in ``data/``). The firmware, read in the vendor's notation, must then fall inside
the product's version condition; a known firmware outside it is no match. Confidence:

- ``exact``: the model fits the product and the device's firmware is inside its condition (or
  the condition names every version);
- ``family``: only the family agrees, or the firmware is unknown or the condition unreadable.

A vendor alone never matches. When a device's model fits some product of an advisory, the
advisory's other products count only through their own models (a ``1756-EN2T/D`` is not affected
through the advisory's Series A entry of the same family).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.store.clickhouse import ClickHouseStore
from core.vulns import store
from core.vulns.catalogue import (device_families, model_matches, model_patterns, product_families,
                                  vendor_key, vendor_of_model)
from core.vulns.csaf import Advisory
from core.vulns.versions import Condition, condition, firmware

CONFIDENCE = ("exact", "family")
_NOT_A_VERSION = re.compile(r"^(?:[<>=*]|vers:|all versions|v?\d)", re.I)


@dataclass(frozen=True)
class DeviceId:
    key: str
    vendor: str
    model: str
    firmware: str


@dataclass(frozen=True)
class VulnMatch:
    cve: str
    cvss: float
    advisory: str
    title: str  # the advisory's title
    remediation: str
    product: str  # the advisory's product (with its version condition) that matched
    confidence: str  # "exact" or "family"


@dataclass(frozen=True)
class _Vuln:
    cve: str
    cvss: float
    remediation: str


@dataclass(frozen=True)
class _Entry:
    """One product of one advisory, ready to match."""

    advisory: str
    title: str
    product: str
    families: frozenset[str]
    models: frozenset[str]
    condition: Condition
    vulns: tuple[_Vuln, ...]


class Catalogue:
    """Every advisory's products by vendor key."""

    def __init__(self, advisories: Iterable[Advisory]):
        self.entries: dict[str, list[_Entry]] = {}
        for a in advisories:
            for p in a.products:
                vendor = vendor_key(p.vendor)
                model_text = p.condition if p.kind == "version" and not _NOT_A_VERSION.match(p.condition) else ""
                cond = condition("*" if model_text else p.condition or "*", vendor)
                if "network part" in p.name.lower():  # not the firmware a device reports
                    cond = Condition(p.condition, readable=False, only_cves=cond.only_cves)
                vulns = tuple(_Vuln(v.cve, v.cvss, v.remediations.get(p.product_id, ""))
                              for v in a.vulnerabilities if p.product_id in v.products
                              and (not cond.only_cves or v.cve in cond.only_cves))
                if not vendor or not vulns:
                    continue
                label = p.name if cond.every or p.condition in p.name else f"{p.name} {p.condition}"
                self.entries.setdefault(vendor, []).append(_Entry(
                    a.advisory_id, a.title, label.strip(), product_families(vendor, p.family) | product_families(vendor, p.name),
                    model_patterns(p.family, p.name, model_text, *p.model_numbers), cond, vulns))

    def match(self, device: DeviceId) -> list[VulnMatch]:
        vendor = vendor_key(device.vendor) or (vendor_of_model(device.model) if not device.vendor.strip() else "")
        if not vendor or not device.model.strip():
            return []  # never on the vendor alone
        families = device_families(vendor, device.model)
        version = firmware(device.firmware, vendor)
        entries = self.entries.get(vendor, [])
        by_model = {e.advisory for e in entries if model_matches(device.model, e.models)}
        best: dict[tuple[str, str], VulnMatch] = {}
        for e in entries:
            model_hit = model_matches(device.model, e.models)
            if not model_hit and (e.advisory in by_model or not families & e.families):
                continue
            inside = e.condition.contains(version)
            if inside is False:
                continue
            confidence = "exact" if model_hit and inside and version is not None else "family"
            for v in e.vulns:
                found = VulnMatch(v.cve, v.cvss, e.advisory, e.title, v.remediation, e.product, confidence)
                held = best.get((v.cve, e.advisory))
                if held is None or (held.confidence, -held.cvss) > (found.confidence, -found.cvss):
                    best[(v.cve, e.advisory)] = found
        return sorted(best.values(), key=lambda m: (-m.cvss, m.cve, m.advisory))


_cache: dict[int, tuple[tuple, Catalogue]] = {}
_lock = threading.Lock()


def catalogue(ch: ClickHouseStore) -> Catalogue:
    """The imported advisories ready to match, rebuilt only after an import."""
    mark = store.fingerprint(ch)
    with _lock:
        held = _cache.get(id(ch))
        if held is None or held[0] != mark:
            held = _cache[id(ch)] = (mark, Catalogue(store.load(ch)))
        return held[1]


def match_devices(ch: ClickHouseStore, devices: Iterable[DeviceId]) -> dict[str, list[VulnMatch]]:
    """Device key → its matches (devices without any are left out). A plant holds many devices of one
    vendor, model and firmware: each such identity is matched once."""
    known = catalogue(ch)
    by_identity: dict[tuple[str, str, str], list[VulnMatch]] = {}
    found = {}
    for d in devices:
        identity = (d.vendor, d.model, d.firmware)
        if identity not in by_identity:
            by_identity[identity] = known.match(d)
        if by_identity[identity]:
            found[d.key] = list(by_identity[identity])
    return found
