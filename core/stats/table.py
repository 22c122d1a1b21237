"""A statistics table before suppression: its cells and how a cell's measures are computed."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from core.export.anonymity import Cell


@dataclass
class Table:
    """Cells by (group, label); ``measures`` turns a cell (or the merged ``other``) into its values."""

    name: str
    measures: Callable[[Cell], dict[str, float]]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, group: str, label: str) -> Cell:
        found = self.cells.get((group, label))
        if found is None:
            found = self.cells[(group, label)] = Cell(group, label)
        return found

    def add(self, group: str, label: str, tenant: int, device: Hashable | None = None, **sums: float) -> None:
        self.cell(group, label).add(tenant, device, **sums)


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0
