"""Zones (ゾーン): devices grouped by VLAN or subnet unless the analyst named their zone, each
device's Purdue level (the analyst's), and the traffic between zones from the hourly pairs rollup
(never raw flows).

A device's default zone is its VLAN when its traffic was tagged (the lowest id when several), else
its IPv4 /24 or IPv6 /64; one known by MAC only is in ``L2_ONLY``. Hosts outside the site (global
addresses, not in the ledger) count as one zone, ``EXTERNAL``; broadcast and multicast are no one's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.analytics.ledger import Asset
from core.analytics.roles import service_name
from core.analytics.spans import pair_volume_rows, whole_days
from core.analytics.window import EARLIEST, LATEST, Window, clamp
from core.store.clickhouse import ClickHouseStore

EXTERNAL = "external"
L2_ONLY = "L2 (no IP)"
SUBNET_PREFIX = {4: 24, 6: 64}


def default_zone(asset: Asset) -> str:
    return network_zone(asset.vlans, asset.ip)


def network_zone(vlans: Iterable[int], ip: str) -> str:
    """``VLAN 10``, else ``192.168.1.0/24`` (``fd00::/64``), else ``L2_ONLY``."""
    if vlans:
        return f"VLAN {min(vlans)}"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return L2_ONLY
    return str(ipaddress.ip_network(f"{addr}/{SUBNET_PREFIX[addr.version]}", strict=False))


def device_zones(ch: ClickHouseStore, tenant_id: int, assets: dict[str, Asset]) -> dict[str, str]:
    """Device key → zone: the analyst's zone, else the default one. (``ch`` and ``tenant_id`` keep the
    shared signature: the analyst's zones come with the ledger's annotations.)"""
    return {key: asset.annotation.get("zone") or default_zone(asset) for key, asset in assets.items()}


def purdue_level(asset: Asset) -> int | None:
    """The analyst's Purdue model level (0 process … 5 enterprise), None when not set."""
    return asset.annotation.get("purdue_level")


@dataclass
class Zone:
    name: str
    devices: list[Asset] = field(default_factory=list)

    @property
    def purdue_levels(self) -> list[int]:
        return sorted({level for a in self.devices if (level := purdue_level(a)) is not None})

    def order(self) -> tuple:
        """Highest Purdue level first (as the model is drawn), zones without one last, then by name."""
        levels = self.purdue_levels
        return (-levels[-1] if levels else 1, self.name)


def zones(ch: ClickHouseStore, tenant_id: int, assets: dict[str, Asset]) -> list[Zone]:
    """Every zone with its devices (by address), highest Purdue level first."""
    grouped: dict[str, Zone] = {}
    for key, name in device_zones(ch, tenant_id, assets).items():
        grouped.setdefault(name, Zone(name)).devices.append(assets[key])
    for zone in grouped.values():
        zone.devices.sort(key=lambda a: (_address_order(a.ip), a.device))
    return sorted(grouped.values(), key=Zone.order)


def _address_order(ip: str) -> tuple:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def pair_traffic(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
                 end: datetime | None = None) -> list[dict]:
    """Host pairs by service in [start, end) (None: open; whole hours of the hourly rollup, whole
    days of the daily one)."""
    window = Window(clamp(start) if start else EARLIEST, clamp(end) if end else LATEST)
    pairs = pair_volume_rows("orig_h, resp_h, service, proto, resp_p, bytes, packets, flows, first_hour, last_hour",
                             "orig_h, resp_h, service, proto, resp_p, bytes, packets, flows, hour, hour",
                             where="orig_h != '' AND resp_h != ''")
    return ch.query(
        f"""
        SELECT orig_h, resp_h, service, proto, resp_p, sum(bytes) AS bytes, sum(packets) AS packets,
               sum(flows) AS flows, min(first_hour) AS first_hour, max(last_hour) AS last_hour
        FROM {pairs}
        GROUP BY orig_h, resp_h, service, proto, resp_p
        HAVING packets > 0
        """,
        {"tenant": tenant_id, **window.params, **whole_days(window.start, window.end)},
    )


@dataclass
class Link:
    """Traffic from one side (device or zone) to another over one service."""

    source: str
    target: str
    service: str
    devices: set[str] = field(default_factory=set)
    bytes: int = 0
    packets: int = 0
    flows: int = 0
    first_hour: datetime | None = None
    last_hour: datetime | None = None

    def add(self, row: dict, devices: Iterable[str]) -> None:
        self.devices.update(devices)
        self.bytes += row["bytes"]
        self.packets += row["packets"]
        self.flows += row["flows"]
        self.first_hour = min(filter(None, (self.first_hour, row["first_hour"])))
        self.last_hour = max(filter(None, (self.last_hour, row["last_hour"])))


def service_label(row: dict) -> str:
    """The detected service, else the port's usual one, else ``proto/port``."""
    return row["service"] or service_name("", row["resp_p"])[0] or f"{row['proto']}/{row['resp_p']}"


def device_links(assets: dict[str, Asset], rows: list[dict]) -> list[Link]:
    """``pair_traffic`` rows by (originating device, responding device, service); hosts outside the
    site are the one device ``EXTERNAL``, broadcast and multicast are left out."""
    owner = {ip: key for key, asset in assets.items() for ip in asset.ips}
    links: dict[tuple[str, str, str], Link] = {}
    for row in rows:
        source, target = _side(owner, row["orig_h"]), _side(owner, row["resp_h"])
        if source and target and source != target:
            key = (source, target, service_label(row))
            links.setdefault(key, Link(*key)).add(row, (source, target))
    return sorted(links.values(), key=lambda link: (-link.bytes, link.source, link.target, link.service))


def _side(owner: dict[str, str], ip: str) -> str:
    if ip in owner:
        return owner[ip]
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    return EXTERNAL if addr.is_global and not addr.is_multicast else ""


def zone_links(zone_of: dict[str, str], links: list[Link]) -> list[Link]:
    """Device links folded into links between different zones (``zone_of``: device → zone, as
    ``device_zones`` gives; ``EXTERNAL`` is its own zone), the heaviest first."""
    folded: dict[tuple[str, str, str], Link] = {}
    for link in links:
        source, target = zone_of.get(link.source, EXTERNAL), zone_of.get(link.target, EXTERNAL)
        if source != target:
            key = (source, target, link.service)
            folded.setdefault(key, Link(*key)).add(vars(link), link.devices - {EXTERNAL})
    return sorted(folded.values(), key=lambda link: (-link.bytes, link.source, link.target, link.service))
