"""Device tables of a period from every tenant's ledger of that window (core.analytics.assets):
devices by vendor, role and model family, firmware versions per model family, and vulnerability
prevalence per CVE (core.vulns.match). A device is a ledger entry; a tenant's ledger is one site."""

from __future__ import annotations

from dataclasses import dataclass

from core.analytics.assets import ledger
from core.analytics.ledger import Asset
from core.stats import labels
from core.stats.periods import Period
from core.stats.table import Table, share
from core.store.clickhouse import ClickHouseStore
from core.vulns.match import DeviceId, match_devices


@dataclass
class Fleet:
    """Who is in a period: the active tenants and their ledgers (device key → asset)."""

    ledgers: dict[int, dict[str, Asset]]

    @property
    def sites(self) -> int:
        return len(self.ledgers)

    @property
    def devices(self) -> int:
        return sum(map(len, self.ledgers.values()))


def fleet(ch: ClickHouseStore, period: Period) -> Fleet:
    """Every tenant that delivered a batch in the period, with its ledger of the period."""
    tenants = [r["tenant_id"] for r in ch.query(
        "SELECT DISTINCT tenant_id FROM batches WHERE interval_start >= {start:DateTime64(6, 'UTC')}"
        " AND interval_start < {end:DateTime64(6, 'UTC')} ORDER BY tenant_id",
        {"start": period.start, "end": period.end})]
    return Fleet({t: ledger(ch, t, start=period.start, end=period.end) for t in tenants})


def device_tables(ch: ClickHouseStore, who: Fleet) -> list[Table]:
    def of_devices(cell):
        return {"device_share": share(len(cell.devices), who.devices),
                "site_share": share(len(cell.tenants), who.sites)}

    vendor, role, family = (Table(name, of_devices) for name in ("devices_by_vendor", "devices_by_role",
                                                                 "devices_by_model_family"))
    per_family: dict[str, int] = {}
    firmware = Table("firmware_by_model_family",
                     lambda cell: {"device_share_of_family": share(len(cell.devices), per_family.get(cell.group, 0))})
    for tenant, assets in who.ledgers.items():
        for key, asset in assets.items():
            vendor.add("", labels.vendor(asset), tenant, key)
            role.add("", labels.role(asset), tenant, key)
            fam = labels.model_family(asset)
            family.add("", fam, tenant, key)
            if fam not in (labels.UNKNOWN, labels.UNLISTED):
                firmware.add(fam, labels.firmware(asset), tenant, key)
                per_family[fam] = per_family.get(fam, 0) + 1
    return [vendor, role, family, firmware, _vulnerabilities(ch, who, of_devices)]


def _vulnerabilities(ch: ClickHouseStore, who: Fleet, of_devices) -> Table:
    """Per CVE: the devices and sites a match (exact or family) puts at risk, and its CVSS."""
    def measures(cell):  # the merged ``other`` has no one CVSS
        return {**of_devices(cell), **({"cvss": worst[cell.label]} if cell.label in worst else {})}

    table, worst = Table("vulnerabilities", measures), {}
    for tenant, assets in who.ledgers.items():
        ids = [DeviceId(key, a.best("vendor"), a.best("model", "product"), a.best("firmware", "revision"))
               for key, a in assets.items()]
        for key, matches in match_devices(ch, ids).items():
            for m in matches:
                label = labels.cve(m.cve)
                table.add("", label, tenant, key)
                worst[label] = max(worst.get(label, 0.0), m.cvss)
    return table
