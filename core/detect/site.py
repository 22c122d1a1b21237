"""What a tenant's site is: the networks its devices live on, so rules can tell a site address
from a public one. Rules get a ``Site`` with every batch (``rules(batch, site)``).

A tenant's networks are set with ``mieruka tenants set NAME --site-networks CIDR,…``; by default
they are the private, shared (CGNAT) and link-local ranges.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                    "fc00::/7", "fe80::/10")
MAX_NETWORKS = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]


@lru_cache(maxsize=256)
def parse_networks(text: str) -> Networks:
    """Comma-separated CIDRs (host bits allowed: ``192.168.1.7/24`` is ``192.168.1.0/24``);
    ValueError naming the first bad one."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("no network given")
    if len(parts) > MAX_NETWORKS:
        raise ValueError(f"at most {MAX_NETWORKS} networks")
    out = []
    for part in parts:
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not a network: {part[:60]!r}") from None
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=64)
def _placer(networks: Networks):
    """A cached ``ip → (on the site, public)`` for one set of networks: a batch asks about the
    same few addresses many times."""

    @lru_cache(maxsize=65536)
    def place(ip: str) -> tuple[bool, bool]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False, False
        on_site_net = any(addr in net for net in networks)
        unicast = not (addr.is_multicast or addr.is_unspecified or addr.is_loopback)
        site = unicast and on_site_net and not (addr.version == 4 and ip.endswith(".255"))  # .255: a broadcast
        return site, addr.is_global and not addr.is_multicast and not on_site_net

    return place


@dataclass(frozen=True)
class Site:
    tenant_id: int = 0
    networks: Networks = parse_networks(",".join(DEFAULT_NETWORKS))
    _place: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_place", _placer(self.networks))

    def is_site(self, ip: str) -> bool:
        """A unicast address on one of the site's networks (a device of the site)."""
        return self._place(ip)[0]

    def is_public(self, ip: str) -> bool:
        """A global unicast address off the site (the internet)."""
        return self._place(ip)[1]

    def places(self, ips: list[str]) -> dict[str, tuple[bool, bool]]:
        """(``is_site``, ``is_public``) of each of ``ips`` (distinct addresses, "" allowed): IPv4
        addresses on the site's networks in numpy (a batch may show 150,000 of them), the others one
        by one."""
        out = {ip: (True, False) for ip in self._v4_sites(ips)}
        out.update((ip, self._place(ip)) for ip in ips if ip not in out)
        return out

    def site_addresses(self, ips: list[str]) -> list[str]:
        """Those of ``ips`` (distinct) that are site devices (``is_site``): IPv4 in numpy, others one by one."""
        v4 = set(self._v4_sites(ips))
        return [ip for ip in ips if ip in v4 or (ip and ":" in ip and self.is_site(ip))]

    def _v4_sites(self, ips: list[str]) -> list[str]:
        """The IPv4 site devices of ``ips``. Only canonical dotted quads (four decimal octets ≤ 255, no
        leading zeros: what ``ipaddress`` reads) are read; any other string without a colon is no
        address, as ``is_site`` says."""
        v4 = pa.array([ip for ip in ips if ip and ":" not in ip], pa.string())
        v4 = v4.filter(pc.match_substring_regex(v4, _DOTTED_QUAD))
        if not len(v4):
            return []
        on_net, site = _v4_places(v4, self.networks)
        return [ip for ip, on, here in zip(v4.to_pylist(), on_net, site) if on and here]


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = rf"^{_OCTET}(\.{_OCTET}){{3}}$"


def _v4_places(ips: pa.StringArray, networks: Networks) -> tuple[list[bool], list[bool]]:
    """Of canonical dotted quads: whether each is on one of the IPv4 ``networks``, and whether it is
    a site device if so (unicast, not a .255 broadcast) — what ``_placer`` says of them."""
    octets = pc.cast(pc.list_flatten(pc.split_pattern(ips, ".")), pa.uint32())
    octets = octets.to_numpy().reshape(len(ips), 4).astype(np.uint32)
    value = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
    on_net = np.zeros(len(ips), bool)
    for net in networks:
        if net.version == 4:
            on_net |= (value & np.uint32(int(net.netmask))) == np.uint32(int(net.network_address))
    first = octets[:, 0]
    unicast = ~((first >= 224) & (first <= 239)) & (value != 0) & (first != 127)
    return on_net.tolist(), (unicast & (octets[:, 3] != 255)).tolist()


def site_of(tenant) -> Site:
    """The site of a tenant (``core.store.controlplane.Tenant``): its networks, or the defaults."""
    if not tenant.site_networks:
        return Site(tenant.id)
    return Site(tenant.id, parse_networks(tenant.site_networks))


def is_unicast_mac(mac: str) -> bool:
    """A station's MAC (not broadcast, multicast or empty)."""
    try:
        return bool(mac) and not int(mac[:2], 16) & 1 and mac != "00:00:00:00:00:00"
    except ValueError:
        return False
