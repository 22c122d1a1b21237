"""Monthly invoices: a plan's lines for one billing month, their subtotal, tax once, and total."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from tariff.calendar import Month
from tariff.decisions import tax_date
from tariff.money import tax


@dataclass(frozen=True)
class Line:
    code: str
    description: str
    quantity: int
    unit_price: int
    amount: int

    @classmethod
    def priced(cls, code: str, description: str, quantity: int, unit_price: int) -> Line:
        """A line whose amount is simply quantity × unit price."""
        return cls(code, description, quantity, unit_price, quantity * unit_price)


class Contract(Protocol):
    contract_id: str

    def lines(self, month: Month) -> list[Line]: ...


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
    """The invoice of ``month``; a month outside the contract's billing has no lines and totals 0.
    Every line is taxable; tax is computed once on the subtotal and truncated (spec §0)."""
    lines = tuple(contract.lines(month))
    subtotal = sum(line.amount for line in lines)
    owed_tax = tax(subtotal, tax_date(month))
    return Invoice(contract.contract_id, month, lines, subtotal, owed_tax, subtotal + owed_tax)
