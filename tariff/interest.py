"""Late-payment interest (延滞利息) and the surcharge for evaded fees (割増金)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from tariff.money import tax, truncate

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


def osect_evasion_surcharge(evaded: int, on: date) -> int:
    """004 Art. 19-3: twice the evaded amount (ex-tax) plus consumption tax on that surcharge, owed on
    top of the evaded amount itself; ``on`` picks the tax rate."""
    surcharge = 2 * evaded
    return surcharge + tax(surcharge, on)


def scc_evasion_surcharge(evaded: int) -> int:
    """000 Art. 37: an amount equal to the evaded amount, owed on top of it."""
    return evaded
