"""Money: integer yen, exact fractions, truncation below one yen, consumption tax by date.

Amounts in the fee tables are tax-exclusive yen. Intermediate results are ``int`` or
``fractions.Fraction``, never ``float``; they become yen only where the spec truncates.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from math import floor

# Consumption tax (消費税) by effective date, newest first (spec §0: 8 % before 2019-10-01, 10 % from then).
TAX_RATES: tuple[tuple[date, Fraction], ...] = (
    (date(2019, 10, 1), Fraction(10, 100)),
    (date.min, Fraction(8, 100)),
)


def truncate(amount: Fraction | int) -> int:
    """Drop the fraction below one yen (端数処理: 004 料金表 通則; 000 Art. 41). Amounts truncated here
    are never negative; credits are computed as positive amounts and then subtracted."""
    return floor(amount)


def tax_rate(on: date) -> Fraction:
    return next(rate for since, rate in TAX_RATES if on >= since)


def tax(taxable: int, on: date) -> int:
    """Tax on a taxable amount at the rate in force ``on``, truncated to the yen (integer floor
    division: the same exact result as truncating the Fraction, without building one per invoice)."""
    rate = tax_rate(on)
    return taxable * rate.numerator // rate.denominator
