"""Caps on the provider's liability for damages (損害賠償の上限) from the fees a customer paid; OsecT's
cap, the monthly fee of the affected sensors, is its plan's (tariff.plans.osect)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from tariff.decisions import damages_window

Receipt = tuple[date, int]  # (day received, yen)


def fees_received_cap(receipts: Iterable[Receipt], cause: date, months: int) -> int:
    """dot-i (002 Art. 14-8) and CTS (001 Art. 13-9): the fees actually received in the ``months``
    months before the cause (window: decisions.damages_window)."""
    after, through = damages_window(cause, months)
    return sum(amount for day, amount in receipts if after < day <= through)


def paid_by_cap(receipts: Iterable[Receipt], cause: date) -> int:
    """Ciero (003 Art. 16-3, annual contract): the fees already paid by the day of the cause."""
    return sum(amount for day, amount in receipts if day <= cause)
