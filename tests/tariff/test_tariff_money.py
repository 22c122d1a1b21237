"""Tax by date, truncation and late-payment interest — exact integers only (surcharges and damages on
invoices: test_tariff_charges)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from tariff.interest import late_interest
from tariff.money import tax, tax_rate, truncate
from tariff.plans import LATE_INTEREST_RATES


def test_tax_rate_table_switches_on_2019_10_01():
    assert tax_rate(date(2019, 9, 30)) == Fraction(8, 100)
    assert tax_rate(date(2019, 10, 1)) == Fraction(10, 100)


def test_tax_is_truncated_to_the_yen():
    assert tax(612_258, date(2026, 12, 1)) == 61_225
    assert tax(99, date(2019, 9, 1)) == 7  # 7.92


def test_truncate_is_exact_for_fractions_that_floats_get_wrong():
    # 0.1 + 0.2 style trouble: 3 × 0.1 yen as float is 0.30000000000000004.
    assert truncate(Fraction(1, 10) * 30) == 3
    assert truncate(Fraction(2 * 10**20 + 1, 2)) == 10**20


def test_late_interest_rates_by_plan():
    assert {
        "osect": Fraction(145, 1000),
        "secure-camera-cloud": Fraction(145, 1000),
        "ciero": Fraction(146, 1000),
    } == LATE_INTEREST_RATES


@pytest.mark.parametrize(
    ("due", "paid", "days"),
    [
        ("2024-04-30", "2024-04-30", 0),  # paid on the due date
        ("2024-04-30", "2024-04-20", 0),  # paid early
        ("2024-04-30", "2024-05-01", 0),  # the day after: no day between
        ("2024-04-30", "2024-05-02", 1),
        ("2024-02-28", "2024-03-01", 1),  # Feb 29 counts as a day, still divided by 365
    ],
)
def test_late_interest_counts_the_days_strictly_between(due, paid, days):
    assert (
        late_interest(10_000, Fraction(146, 1000), date.fromisoformat(due), date.fromisoformat(paid)).days
        == days
    )


def test_late_interest_is_simple_and_truncated():
    # 100,000 × 14.5 % × 30 / 365 = 1,191.78…
    assert (
        late_interest(100_000, LATE_INTEREST_RATES["osect"], date(2024, 1, 1), date(2024, 2, 1)).interest
        == 1_191
    )
    # A year late at 14.6 %: 365 days → exactly 14.6 % of the principal.
    assert (
        late_interest(1_000_000, Fraction(146, 1000), date(2023, 1, 1), date(2024, 1, 2)).interest == 146_000
    )

