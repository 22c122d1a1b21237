"""Caps on the provider's liability for damages (損害賠償の上限), per plan."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from tariff.decisions import damages_window
from tariff.plans import monthly, osect

Receipt = tuple[date, int]  # (day received, yen)


def osect_cap(affected_sensors: int) -> int:
    """004 Art. 27-2: the monthly base fee of the sensors in use when the service became unusable."""
    return osect.MONTHLY_FEE * affected_sensors


def fees_received_cap(receipts: Iterable[Receipt], cause: date) -> int:
    """dot-i (002 Art. 14-8) and CTS (001 Art. 13-9): the fees actually received in the 3 months before
    the cause (window: decisions.damages_window)."""
    after, through = damages_window(cause, monthly.DAMAGES_CAP_MONTHS)
    return sum(amount for day, amount in receipts if after < day <= through)


def ciero_cap(receipts: Iterable[Receipt], cause: date) -> int:
    """003 Art. 16-3 (annual contract): the fees already paid by the day of the cause."""
    return sum(amount for day, amount in receipts if day <= cause)
