"""Insecure protocols in use during a period, per device: what the ledger says a device serves
(Telnet, FTP, HTTP without TLS) and what the decoders flagged in the period's events (SMBv1
negotiated, SNMP v1/v2c answered, logins in clear text or with a vendor default), kept per hour at
ingest in ``insecure_use_1h``."""

from __future__ import annotations

from dataclasses import dataclass

from core.analytics.ledger import Asset, is_local_host
from core.report.period import Period
from core.store.clickhouse import ClickHouseStore

# Most serious first; each is a finding with a recommendation (recommendations.toml).
INSECURE = ("default_credentials", "telnet", "smbv1", "cleartext_credentials", "ftp", "snmp_v1v2c", "http")
SERVED = ("telnet", "ftp", "http")  # a detected service the device offers

# The flags per server in the hours the period touches (migration 015 keeps them at ingest).
_FLAGGED = """
SELECT host, flag FROM insecure_use_1h
WHERE tenant_id = {tenant:UInt32} AND hour >= toStartOfHour({start:DateTime64(6, 'UTC')})
  AND hour < {end:DateTime64(6, 'UTC')}
GROUP BY host, flag
"""


@dataclass(frozen=True)
class Use:
    protocol: str  # one of INSECURE
    device: str  # the ledger's key of the device that offers it (its IP when not in the ledger)


def site_owners(assets: dict[str, Asset]) -> dict[str, str]:
    """Site IP → its device's key. A public address is no site device's, though the router's ledger
    entry lists those whose frames it carried."""
    return {ip: key for key, a in assets.items() for ip in a.ips if is_local_host(ip)}


def insecure_uses(ch: ClickHouseStore, tenant_id: int, period: Period, assets: dict[str, Asset]) -> list[Use]:
    """Every (protocol, device) in use in the period, most serious protocol first."""
    found = {Use(name, key) for key, a in assets.items() for name in SERVED if a.served.get(name)}
    owner = site_owners(assets)
    rows = ch.query(_FLAGGED, {"tenant": tenant_id, "start": period.start, "end": period.end})
    found |= {Use(r["flag"], owner.get(r["host"], r["host"])) for r in rows if r["host"]}
    return sorted(found, key=lambda u: (INSECURE.index(u.protocol), u.device))
