"""What a tenant's site is: the networks its devices live on, so rules can tell a site address
from a public one. Rules get a ``Site`` with every batch (``rules(batch, site)``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

# Private, shared (CGNAT) and link-local ranges: a plant's networks unless the tenant says otherwise.
DEFAULT_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                    "fc00::/7", "fe80::/10")


@lru_cache(maxsize=65536)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


@dataclass(frozen=True)
class Site:
    tenant_id: int = 0
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
        ipaddress.ip_network(n) for n in DEFAULT_NETWORKS)

    def is_site(self, ip: str) -> bool:
        """A unicast address on one of the site's networks (a device of the site)."""
        addr = _address(ip)
        if addr is None or addr.is_multicast or addr.is_unspecified or addr.is_loopback:
            return False
        if addr.version == 4 and ip.endswith(".255"):
            return False  # most likely a subnet broadcast
        return any(addr in net for net in self.networks)

    def is_public(self, ip: str) -> bool:
        """A global unicast address off the site (the internet)."""
        addr = _address(ip)
        return (addr is not None and addr.is_global and not addr.is_multicast
                and not any(addr in net for net in self.networks))


def is_unicast_mac(mac: str) -> bool:
    """A station's MAC (not broadcast, multicast or empty)."""
    try:
        return bool(mac) and not int(mac[:2], 16) & 1 and mac != "00:00:00:00:00:00"
    except ValueError:
        return False
