"""MAC address → vendor name, from Wireshark's ``manuf`` database as shipped (and loaded) by Scapy.

Scapy's ``conf.manufdb.lookup`` only knows 24-bit OUIs; the same table also holds the IEEE's
28-bit (MA-M) and 36-bit (MA-S/IAB) blocks under keys such as ``"70:B3:D5:00:10/36"``, so those are
tried first. Multicast/broadcast and locally administered (randomised, virtual) addresses name no
manufacturer and get no vendor.
"""

from __future__ import annotations

from functools import lru_cache


def _normalise(mac: str) -> str | None:
    """``"AA-BB-CC-DD-EE-FF"``/``"aabb.ccdd.eeff"``/... → ``"AA:BB:CC:DD:EE:FF"``, or None."""
    digits = "".join(ch for ch in mac if ch not in ":-.")
    if len(digits) != 12:
        return None
    try:
        int(digits, 16)
    except ValueError:
        return None
    digits = digits.upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def is_unicast_global(mac: str) -> bool:
    """True for a well-formed, universally administered unicast MAC (one that can have a vendor)."""
    norm = _normalise(mac)
    return norm is not None and int(norm[:2], 16) & 0x03 == 0


@lru_cache(maxsize=65536)
def vendor(mac: str) -> str | None:
    """The registered manufacturer of ``mac``, or None when unknown or not a vendor address."""
    if not is_unicast_global(mac):
        return None
    from scapy.config import conf  # (here: importing Scapy costs a process that never looks a vendor up ~20 ms)

    norm = _normalise(mac)
    table = conf.manufdb.d
    for key in _block_keys(norm):
        if key in table:
            return _long_name(table[key])
    entry = table.get(norm[:8])
    return _long_name(entry) if entry else None


def _block_keys(norm: str) -> tuple[str, ...]:
    """Keys of the 36- and 28-bit blocks holding ``norm``, longest prefix first. Scapy's bundled
    table writes them truncated ("70:B3:D5:00:10/36"), Wireshark's own manuf file zero-padded
    ("70:B3:D5:00:10:00/36"); Scapy loads the latter when Wireshark is installed."""
    value = int(norm.replace(":", ""), 16)
    keys = []
    for bits, short in ((36, 13), (28, 10)):
        masked = f"{value >> (48 - bits) << (48 - bits):012X}"
        padded = ":".join(masked[i : i + 2] for i in range(0, 12, 2))
        keys += [f"{padded}/{bits}", f"{norm[:short]}0/{bits}"]
    return tuple(keys)


def _long_name(entry: tuple[str, str]) -> str:
    short, long = entry
    return (long or short).strip().rstrip(",").strip()
