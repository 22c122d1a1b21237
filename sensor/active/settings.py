"""The ``[active]`` table of the sensor's config: whether, what, to whom and how often the sensor
may ask devices for their identity. Off unless ``mode`` says otherwise; a bad value is a
``SettingError`` naming the setting."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields

MODES = ("off", "dry-run", "on")  # dry-run: log what would be sent, send nothing
PROTOCOLS = ("enip", "s7comm", "modbus", "bacnet", "snmp")
SNMP_VERSIONS = ("1", "2c")
LIMITS = {"interval_hours": 24 * 365.0, "max_rate": 100.0, "timeout_s": 60.0}  # the highest value each may have


class SettingError(ValueError):
    """A value of the [active] table that cannot be used."""


@dataclass
class ActiveSettings:
    mode: str = "off"
    protocols: list[str] = field(default_factory=lambda: ["enip", "s7comm", "modbus", "bacnet"])
    networks: list[str] = field(default_factory=list)  # the site's networks (CIDR): requests go nowhere else
    exclude: list[str] = field(default_factory=list)  # networks or addresses never asked
    interval_hours: float = 24.0  # at most one request per device and protocol in this time
    max_rate: float = 1.0  # requests per second, all devices together
    timeout_s: float = 2.0  # for one device's whole exchange
    snmp_community: str = ""  # read community of the site's agents (no guessing: required for snmp)
    snmp_version: str = "2c"
    s7_tsap: str = "0102"  # the CPU's TSAP (rack 0, slot 2) in hex
    log: str = "/var/lib/mieruka/active-id.jsonl"  # every request sent (or, dry-run, not sent)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SettingError(f"active.mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        _strings("protocols", self.protocols)
        if unknown := [p for p in self.protocols if p not in PROTOCOLS]:
            raise SettingError(f"active.protocols: {unknown[0]!r} is not one of {', '.join(PROTOCOLS)}")
        self.allowed = _networks("networks", self.networks)
        self.denied = _networks("exclude", self.exclude)
        if self.mode != "off" and not self.allowed:
            raise SettingError("active.networks must name the site's networks (CIDR) before active.mode is "
                               f"{self.mode!r}")
        for name, top in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= top:
                raise SettingError(f"active.{name} must be a positive number up to {top:g}, not {value!r}")
        if self.snmp_version not in SNMP_VERSIONS:
            raise SettingError(f"active.snmp_version must be one of {', '.join(SNMP_VERSIONS)}, "
                               f"not {self.snmp_version!r}")
        if "snmp" in self.protocols and not self.snmp_community:
            raise SettingError("active.protocols names snmp but active.snmp_community is empty (it is never guessed)")
        if not isinstance(self.snmp_community, str) or not self.snmp_community.isprintable() \
                or len(self.snmp_community) > 64:
            raise SettingError("active.snmp_community must be printable text of at most 64 characters")
        try:
            tsap = bytes.fromhex(self.s7_tsap)
        except (TypeError, ValueError):
            tsap = b""
        if len(tsap) != 2:
            raise SettingError(f"active.s7_tsap must be two bytes in hex such as 0102, not {self.s7_tsap!r}")
        self.tsap = tsap
        if not isinstance(self.log, str) or not self.log:
            raise SettingError("active.log must name a file")

    def may_ask(self, ip: str) -> bool:
        """Inside the site's networks, not excluded, and one device (not a group address)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.is_multicast or addr.is_unspecified or (addr.version == 4 and addr.packed[-1] == 255):
            return False
        inside = [net for net in self.allowed if addr in net]
        if not inside or any(addr in net for net in self.denied):
            return False
        return all(net.num_addresses <= 2 or addr not in (net.network_address, net.broadcast_address)
                   for net in inside)


def _strings(name: str, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingError(f"active.{name} must be a list of strings")


def _networks(name: str, value: object) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    _strings(name, value)
    try:
        return [ipaddress.ip_network(v, strict=False) for v in value]
    except ValueError as exc:
        raise SettingError(f"active.{name}: {exc}") from None


def parse_table(table: object) -> ActiveSettings:
    """The [active] table as settings; an unknown key or a bad value is a SettingError."""
    if isinstance(table, ActiveSettings):
        return table
    if not isinstance(table, dict):
        raise SettingError("active must be a table of settings")
    known = {f.name for f in fields(ActiveSettings)}
    if unknown := sorted(set(table) - known):
        raise SettingError(f"active.{unknown[0]} is not a setting (known: {', '.join(sorted(known))})")
    return ActiveSettings(**table)
