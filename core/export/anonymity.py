"""k-anonymity for cross-tenant statistics: which cells of a table may be published.

A cell (a label's aggregate) is published only when it aggregates at least ``k`` tenants and ``m``
devices. The cells that fail are suppressed; their union is published as one ``other`` cell, so
the table still adds up to its total — but only when that union itself has ``k`` tenants and ``m``
devices. If it has not, the smallest published cells are suppressed too ("complementary"
suppression), one at a time, until it has: a suppressed cell can then never be recovered by
subtracting the published ones from the total. When even all of them together fall short, nothing
of the table is published, not even its total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

OTHER = "other"
# Why a cell was suppressed (the export's metadata counts cells per reason, never their values).
FEW_TENANTS = "fewer_than_k_tenants"
FEW_DEVICES = "fewer_than_m_devices"
COMPLEMENTARY = "complementary"
WHOLE_TABLE = "table_below_threshold"  # even the union of every cell falls short


@dataclass
class Cell:
    """One label's aggregate: who contributed (tenants, devices as ``(tenant, key)``) and additive
    measures (summed when cells merge into ``other``)."""

    group: str
    label: str
    tenants: set[int] = field(default_factory=set)
    devices: set[Hashable] = field(default_factory=set)
    sums: Counter = field(default_factory=Counter)

    def add(self, tenant: int, device: Hashable | None = None, **sums: float) -> None:
        self.tenants.add(tenant)
        if device is not None:
            self.devices.add((tenant, device))
        self.sums.update(sums)

    def merge(self, other: Cell) -> None:
        self.tenants |= other.tenants
        self.devices |= other.devices
        self.sums.update(other.sums)


@dataclass
class Outcome:
    """What a table publishes: its cells, the merged ``other`` (or None) and the reasons counted."""

    published: list[Cell]
    other: Cell | None
    reasons: Counter


def passes(cell: Cell, k: int, m: int) -> bool:
    return len(cell.tenants) >= k and len(cell.devices) >= m


def _reason(cell: Cell, k: int) -> str:
    return FEW_TENANTS if len(cell.tenants) < k else FEW_DEVICES


def suppress(cells: Iterable[Cell], k: int, m: int) -> Outcome:
    """Split a table's cells into published ones and a safe ``other`` (see the module's doc)."""
    cells = list(cells)
    published = [c for c in cells if passes(c, k, m)]
    failed = [c for c in cells if not passes(c, k, m)]
    reasons = Counter(_reason(c, k) for c in failed)
    if not failed:
        return Outcome(sorted(published, key=_by_label), None, reasons)
    other = Cell(OTHER, OTHER)
    for c in failed:
        other.merge(c)
    published.sort(key=lambda c: (len(c.devices), len(c.tenants), c.group, c.label), reverse=True)
    while not passes(other, k, m) and published:
        other.merge(published.pop())  # the smallest one left
        reasons[COMPLEMENTARY] += 1
    if not passes(other, k, m):
        reasons[WHOLE_TABLE] += 1
        return Outcome([], None, reasons)
    return Outcome(sorted(published, key=_by_label), other, reasons)


def _by_label(cell: Cell) -> tuple[str, str]:
    return cell.group, cell.label
