"""What a tenant's site is: the networks its devices live on, so rules can tell a site address
from a public one. Rules get a ``Site`` with every batch (``rules(batch, site)``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

# Private, shared (CGNAT) and link-local ranges: a plant's networks unless the tenant says otherwise.
DEFAULT_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                    "fc00::/7", "fe80::/10")


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@lru_cache(maxsize=65536)
def _place(networks: Networks, ip: str) -> tuple[bool, bool]:
    """(on the site, public) for ``ip``: a batch asks about the same few addresses many times."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False, False
    on_site_net = any(addr in net for net in networks)
    unicast = not (addr.is_multicast or addr.is_unspecified or addr.is_loopback)
    site = unicast and on_site_net and not (addr.version == 4 and ip.endswith(".255"))  # .255: a broadcast
    return site, addr.is_global and not addr.is_multicast and not on_site_net


@dataclass(frozen=True)
class Site:
    tenant_id: int = 0
    networks: Networks = tuple(ipaddress.ip_network(n) for n in DEFAULT_NETWORKS)

    def is_site(self, ip: str) -> bool:
        """A unicast address on one of the site's networks (a device of the site)."""
        return _place(self.networks, ip)[0]

    def is_public(self, ip: str) -> bool:
        """A global unicast address off the site (the internet)."""
        return _place(self.networks, ip)[1]


def is_unicast_mac(mac: str) -> bool:
    """A station's MAC (not broadcast, multicast or empty)."""
    try:
        return bool(mac) and not int(mac[:2], 16) & 1 and mac != "00:00:00:00:00:00"
    except ValueError:
        return False
