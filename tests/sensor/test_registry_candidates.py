"""Detection order: the protocols bound to one of a flow's ports first, then every other protocol of
its transport, each group in registry order, whatever the protocol tuple."""

from __future__ import annotations

import random

from sensor.decode import registry


def _plain(transport: str, sport: int, dport: int, protocols: tuple) -> list:
    usable = [p for p in protocols if transport in p.transports]
    bound = [p for p in usable if sport in p.ports or dport in p.ports]
    return bound + [p for p in usable if all(p is not b for b in bound)]


def test_the_order_is_bound_protocols_then_the_rest():
    rng = random.Random(2)
    ports = sorted({port for p in registry.PROTOCOLS for port in p.ports}) + [0, 1, 40000, 65535]
    subsets = [registry.PROTOCOLS, *(tuple(rng.sample(registry.PROTOCOLS, 12)) for _ in range(5))]
    for _ in range(5000):
        transport, sport, dport = rng.choice(("tcp", "udp")), rng.choice(ports), rng.choice(ports)
        protocols = rng.choice(subsets)
        assert list(registry.candidates(transport, sport, dport, protocols)) == \
            _plain(transport, sport, dport, protocols)
    modbus_first = registry.candidates("tcp", 40000, 502)
    assert modbus_first[0].name == "modbus" and len(modbus_first) == len(set(modbus_first))
