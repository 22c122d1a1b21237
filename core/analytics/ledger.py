"""The asset ledger (資産台帳): observations, traffic and analyst notes merged into devices.

Pure functions over rows the queries in ``core.analytics.assets`` fetch. A device is keyed by its
MAC on the local segment; a fact known only by IP joins the device that holds that IP, and a host
seen only behind a router (no MAC of its own) is keyed by its IP. Every attribute keeps all the
sources that reported it, best first (confidence, then recency).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from core.analytics.roles import Role, choose_role, infer_role, service_name

# Summary column → the attributes that can fill it, preferred first.
SUMMARY_ATTRIBUTES = {
    "vendor": ("vendor",),
    "hostname": ("hostname", "netbios_name", "device_name", "dns_name", "fqdn"),
    "model": ("model", "product", "upnp_device"),
    "firmware": ("firmware", "revision", "software"),
    "serial": ("serial",),
    "os": ("os",),
}


@dataclass(frozen=True)
class Attribute:
    value: str
    source: str
    confidence: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class Asset:
    device: str
    mac: str = ""
    ips: set[str] = field(default_factory=set)
    attributes: dict[str, list[Attribute]] = field(default_factory=dict)
    served: dict[str, bool] = field(default_factory=dict)  # service → detected (not a port hint)
    used: dict[str, bool] = field(default_factory=dict)
    vlans: set[int] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    rtsp_servers: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    role: Role | None = None
    annotation: dict = field(default_factory=dict)

    def best(self, *attributes: str) -> str:
        """The best value of the first of ``attributes`` that was observed."""
        for attribute in attributes:
            if found := self.attributes.get(attribute):
                return found[0].value
        return ""

    def seen(self, first: datetime, last: datetime) -> None:
        self.first_seen = first if self.first_seen is None else min(self.first_seen, first)
        self.last_seen = last if self.last_seen is None else max(self.last_seen, last)

    @property
    def ip(self) -> str:
        return self.best("ip") or (self.device if self.device in self.ips else min(self.ips, default=""))

    def summary(self) -> dict:
        return {
            "device": self.device,
            "mac": self.mac,
            "ip": self.ip,
            "ips": sorted(self.ips, key=ip_order),
            **{name: self.best(*sources) for name, sources in SUMMARY_ATTRIBUTES.items()},
            "role": self.role.value if self.role else "",
            "role_source": self.role.source if self.role else "",
            "protocols_served": sorted(s for s in self.served if s),
            "protocols_used": sorted(s for s in self.used if s),
            "vlans": sorted(self.vlans),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "authorized": self.annotation.get("authorized", "unknown"),
            "importance": self.annotation.get("importance", ""),
            "tags": list(self.annotation.get("tags", [])),
            "notes": self.annotation.get("notes", ""),
            "zone": self.annotation.get("zone", ""),
            "purdue_level": self.annotation.get("purdue_level"),
        }


@lru_cache(maxsize=1 << 16)  # parsing an address is slow; ledgers sort the same few thousand again and again
def ip_order(ip: str):
    try:
        addr = ipaddress.ip_address(ip)
        return (addr.version, int(addr))
    except ValueError:
        return (9, 0)


def is_local_host(ip: str) -> bool:
    """A unicast address on a site network (private or link-local), i.e. an asset, not the internet."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.is_multicast or addr.is_unspecified or addr.is_loopback:
        return False
    if addr.version == 4 and (ip.endswith(".255") or ip == "255.255.255.255"):
        return False  # most likely a subnet broadcast
    return addr.is_private or addr.is_link_local


def build_ledger(facts: list[dict], traffic: list[dict], actions: dict[str, set[str]],
                 annotations: dict[str, dict], sightings: list[dict] | None = None) -> dict[str, Asset]:
    """Devices by key.

    facts: mac, ip, attribute, source, value, confidence, first_seen, last_seen
    traffic: host, side ("served"/"used"), service, resp_p, vlans, peers, first_seen, last_seen
    actions: event actions by originating IP; annotations: by device key.
    sightings: mac, ip, first_seen, last_seen — where devices were seen (by default the facts). A
    device is one that was sighted or has traffic; facts about any other are left out (in a time
    window, they speak of devices seen only outside it).
    """
    owner = _ip_owners(facts)
    assets: dict[str, Asset] = {}

    def asset(key: str, mac: str = "") -> Asset:
        found = assets.get(key)
        if found is None:
            found = assets[key] = Asset(key, mac)
        return found

    def key_of(mac: str, ip: str) -> tuple[str, str]:
        mac = mac or owner.get(ip, "")
        return mac or ip, mac

    for s in facts if sightings is None else sightings:
        a = asset(*key_of(s["mac"], s["ip"]))
        if s["ip"]:
            a.ips.add(s["ip"])
        a.seen(s["first_seen"], s["last_seen"])

    for t in traffic:
        host = t["host"]
        key, mac = key_of("", host)
        if key not in assets and not is_local_host(host):
            continue
        a = asset(key, mac)
        a.ips.add(host)
        side = a.served if t["side"] == "served" else a.used
        for name, detected in _services(t["service"], t["resp_p"]):
            side[name] = side.get(name, False) or detected
            if name == "rtsp" and t["side"] == "used":
                a.rtsp_servers += t["peers"]
        a.vlans.update(v for v in t["vlans"] if v)
        a.seen(t["first_seen"], t["last_seen"])

    for f in facts:
        if a := assets.get(key_of(f["mac"], f["ip"])[0]):
            a.attributes.setdefault(f["attribute"], []).append(Attribute(
                f["value"], f["source"], f["confidence"], f["first_seen"], f["last_seen"]))

    for a in assets.values():
        for values in a.attributes.values():
            values.sort(key=lambda v: (v.confidence, v.last_seen), reverse=True)
        for ip in a.ips:
            a.actions |= actions.get(ip, set())
        stated = a.attributes.get("role")
        a.role = choose_role(
            infer_role(_served(a), a.used, a.actions, a.rtsp_servers),
            Role(stated[0].value, stated[0].source, stated[0].confidence) if stated else None,
        )
        a.annotation = annotations.get(a.device, {})
    return assets


def _services(service: str, resp_p: int) -> list[tuple[str, bool]]:
    """(name, detected) for each service of a flow ("cotp,s7comm" names two), else a port hint."""
    names = [n for n in service.split(",") if n]
    return [(n, True) for n in names] if names else [service_name("", resp_p)]


def _served(a: Asset) -> dict[str, bool]:
    """What a device serves, for its role. A decoder's protocol_served fact is proof; otherwise a
    service it also uses as a client does not count (an engineering workstation that answers a
    controller's unicast List Identity reply is not a controller)."""
    proven = {v.value for v in a.attributes.get("protocol_served", [])}
    return {name: detected for name, detected in a.served.items()
            if name in proven or name not in a.used}


def _ip_owners(facts: list[dict]) -> dict[str, str]:
    """IP → the MAC that holds it: from MAC/IP facts, an explicit "ip" fact first, then the most
    confident and most recent."""
    best: dict[str, tuple] = {}
    for f in facts:
        if f["mac"] and f["ip"]:
            rank = (f["attribute"] == "ip", f["confidence"], f["last_seen"])
            if f["ip"] not in best or rank > best[f["ip"]][0]:
                best[f["ip"]] = (rank, f["mac"])
    return {ip: mac for ip, (_, mac) in best.items()}
