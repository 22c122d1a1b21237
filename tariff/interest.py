"""Late-payment interest (延滞利息)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from tariff.money import truncate

DAYS_PER_YEAR = 365  # spec §0: the annual rate is divided by 365 in leap years too


@dataclass(frozen=True)
class LateInterest:
    days: int
    interest: int


def late_interest(principal: int, rate: Fraction, due: date, paid: date) -> LateInterest:
    """004 Art. 21, 000 Art. 38, 003 Art. 19: for the days from the day after the due date through the
    day before payment, simple interest on the principal (which excludes earlier interest), truncated."""
    days = max(0, (paid - due).days - 1)
    return LateInterest(days, truncate(principal * rate * days / DAYS_PER_YEAR))
