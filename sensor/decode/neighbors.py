"""What the link-neighbour protocols (LLDP, CDP) share: capability bits by name, the device role
the enabled capabilities imply, and the decoder that hands a parsed neighbour's facts on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sensor.decode.spec import Event, Fact, Session


def capabilities(bits: int, names: Sequence[str]) -> list[str]:
    """The names of the bits set in ``bits`` (bit 0 is ``names[0]``)."""
    return [name for bit, name in enumerate(names) if bits >> bit & 1]


def role(enabled: list[str], roles: Sequence[tuple[str, str]]) -> str:
    """The role of the first (capability, role) pair whose capability is enabled, or ""."""
    return next((value for capability, value in roles if capability in enabled), "")


def decoder(service: str, parse: Callable[[bytes], object], facts: Callable[[object], list[tuple[str, str]]]
            ) -> Callable[[bytes, bool, Session], list[Event | Fact]]:
    """A LinkProtocol decode function: the (attribute, value) facts of the parsed payload, about its sender."""
    def decode(payload: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
        out = [Fact(attribute, value) for attribute, value in facts(parse(payload))]
        session.services.add(service)
        return out
    return decode
