"""The devices the sensor has seen serve a protocol it may ask about, learnt from its own batches:
a decoder's ``protocol_served`` fact (the device answered in the protocol) makes a device a target;
the flows give the port and transport it served on, Modbus events the unit id its clients address,
BACnet I-Am facts the device instance, and passive facts whether its model and firmware are known
already (then there is nothing to ask)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyarrow as pa

from sensor import wire
from sensor.active.settings import PROTOCOLS

MAX_TARGETS = 4096  # (device, protocol) pairs kept
DEFAULT_PORTS = {"enip": 44818, "s7comm": 102, "modbus": 502, "bacnet": 47808, "snmp": 161}
IDENTITY = frozenset({"model", "firmware"})  # what a device must have told passively to be left alone
UDP_ONLY = frozenset({"bacnet", "snmp"})
TCP_ONLY = frozenset({"s7comm", "modbus"})


@dataclass(frozen=True)
class Target:
    ip: str
    protocol: str
    transport: str = "tcp"
    port: int = 0
    unit: int = 1  # Modbus unit id as its clients address it
    instance: int | None = None  # BACnet device instance, when an I-Am named it
    identified: bool = False  # its traffic told its model and firmware

    @property
    def key(self) -> tuple[str, str]:
        return self.ip, self.protocol


class Seen:
    """What the batches showed so far; ``learn`` and ``targets`` may run in different threads."""

    def __init__(self) -> None:
        self._served: dict[tuple[str, str], None] = {}  # in the order first seen
        self._ports: dict[tuple[str, str], tuple[str, int]] = {}
        self._units: dict[str, int] = {}
        self._instances: dict[str, int] = {}
        self._known: dict[str, set[str]] = {}  # IDENTITY attributes passive facts gave, by address
        self._lock = threading.Lock()

    def learn(self, batch: wire.Batch) -> None:
        observations = _rows(batch.tables["observations"], ("ip", "attribute", "value", "source"))
        flows = _rows(batch.tables["flows"], ("resp_h", "resp_p", "proto", "service"))
        events = _rows(batch.tables["events"], ("resp_h", "protocol", "attrs"))
        with self._lock:
            for ip, attribute, value, source in observations:
                if attribute == "protocol_served" and value in PROTOCOLS and ip and len(self._served) < MAX_TARGETS:
                    self._served.setdefault((ip, value), None)
                elif attribute == "bacnet_device_id" and source == "bacnet" and value.isdigit() \
                        and len(self._instances) < MAX_TARGETS:
                    self._instances[ip] = int(value)
                elif attribute in IDENTITY and source != "active" and ip and len(self._known) < MAX_TARGETS:
                    self._known.setdefault(ip, set()).add(attribute)
            for ip, port, proto, service in flows:
                for name in set(service.split(",")) & set(PROTOCOLS):
                    if len(self._ports) >= MAX_TARGETS and (ip, name) not in self._ports:
                        break
                    if (ip, name) not in self._ports or proto == "tcp":  # a TCP port first (List Identity)
                        self._ports[(ip, name)] = (proto, port)
            for ip, protocol, attrs in events:
                unit = dict(attrs).get("unit", "") if protocol == "modbus" else ""
                if unit.isdigit() and len(self._units) < MAX_TARGETS:
                    self._units[ip] = int(unit)

    def targets(self) -> list[Target]:
        with self._lock:
            return [self._target(ip, protocol) for ip, protocol in self._served]

    def _target(self, ip: str, protocol: str) -> Target:
        transport, port = self._ports.get((ip, protocol), ("", 0))
        if transport not in ("tcp", "udp") or protocol in (UDP_ONLY if transport == "tcp" else TCP_ONLY):
            transport, port = ("udp" if protocol in UDP_ONLY else "tcp"), DEFAULT_PORTS[protocol]
        return Target(ip, protocol, transport, port or DEFAULT_PORTS[protocol], self._units.get(ip, 1),
                      self._instances.get(ip), self._known.get(ip, set()) >= IDENTITY)


def _rows(table: pa.Table, names: tuple[str, ...]) -> list[tuple]:
    return list(zip(*(table.column(n).to_pylist() for n in names)))
