"""Monthly invoices: a plan's lines for one billing month, their subtotal, tax once, and total."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar, Protocol

from tariff.calendar import Month
from tariff.decisions import tax_date
from tariff.money import tax

if TYPE_CHECKING:
    from tariff.charges import Charges


@dataclass(frozen=True)
class Line:
    code: str
    description: str
    quantity: int
    unit_price: int
    amount: int
    taxable: ClassVar[bool] = True

    @classmethod
    def priced(cls, code: str, description: str, quantity: int, unit_price: int) -> Line:
        """A line whose amount is simply quantity × unit price."""
        return cls(code, description, quantity, unit_price, quantity * unit_price)


@dataclass(frozen=True)
class UntaxedLine(Line):
    """A line outside the taxable subtotal (decisions: late interest, damages, some surcharges)."""

    taxable: ClassVar[bool] = False


class Contract(Protocol):
    contract_id: str
    charges: Charges

    def lines(self, month: Month) -> list[Line]:
        """The plan's fees of ``month``."""

    def damages_cap(self, cause: date) -> int:
        """The provider's liability cap for a cause arising on ``cause`` (tariff.damages)."""


@dataclass(frozen=True)
class Invoice:
    contract_id: str
    month: Month
    lines: tuple[Line, ...]
    subtotal: int
    tax: int
    total: int

    def to_json(self) -> dict:
        """The ``tariff invoice --json`` shape (spec §4)."""
        return {
            "contract_id": self.contract_id,
            "month": str(self.month),
            "lines": [asdict(line) for line in self.lines],
            "subtotal": self.subtotal,
            "tax": self.tax,
            "total": self.total,
        }


def invoice(contract: Contract, month: Month) -> Invoice:
    """The invoice of ``month``: the plan's fees, then the lines of the contract's recorded payments,
    evasions and damages (tariff.charges); a month with none of these has no lines and totals 0. Tax
    is computed once on the taxable lines' sum and truncated (spec §0)."""
    lines = contract.lines(month)
    if contract.charges.recorded:
        lines += contract.charges.lines(month, contract.damages_cap)
    lines = tuple(lines)
    subtotal = untaxed = 0
    for line in lines:
        subtotal += line.amount
        if not line.taxable:
            untaxed += line.amount
    owed_tax = tax(subtotal - untaxed, tax_date(month))
    return Invoice(contract.contract_id, month, lines, subtotal, owed_tax, subtotal + owed_tax)
