"""dot-i, CTS and Ciero: prices set per contract, with their notice and renewal rules (damages caps:
test_tariff_charges)."""

from __future__ import annotations

from datetime import date

from tarifftest import amounts, bill, ciero, monthly

from tariff.calendar import Month
from tariff.contracts import parse_contract


def test_monthly_plans_bill_whole_months_while_in_force():
    data = monthly("dot-i", termination_date="2026-09-02")
    assert amounts(bill(data, "2026-04")) == [("dot-i.monthly", 10_000)]
    assert bill(data, "2026-09").subtotal == 10_000
    assert bill(data, "2026-03").subtotal == bill(data, "2026-10").subtotal == 0


def test_dot_i_needs_two_months_notice():
    late = monthly("dot-i", termination_date="2026-09-10", termination_notice_date="2026-08-01")
    assert parse_contract(late).termination == date(2026, 10, 1)
    assert bill(late, "2026-10").subtotal == 10_000
    timely = monthly("dot-i", termination_date="2026-09-10", termination_notice_date="2026-07-10")
    assert parse_contract(timely).termination == date(2026, 9, 10)


def test_cts_needs_seven_days_notice():
    late = monthly("cts", termination_date="2026-09-30", termination_notice_date="2026-09-28")
    assert parse_contract(late).termination == date(2026, 10, 5)
    assert amounts(bill(late, "2026-10")) == [("cts.monthly", 10_000)]
    timely = monthly("cts", termination_date="2026-09-30", termination_notice_date="2026-09-23")
    assert parse_contract(timely).termination == date(2026, 9, 30)


def test_ciero_bills_the_annual_fee_when_each_term_starts():
    data = ciero()
    assert amounts(bill(data, "2026-04")) == [("ciero.annual", 120_000)]
    assert bill(data, "2026-05").subtotal == 0 and bill(data, "2027-03").subtotal == 0
    assert bill(data, "2027-04").subtotal == 120_000 and bill(data, "2030-04").subtotal == 120_000


def test_ciero_refusal_30_days_before_expiry_stops_the_renewal():
    # Expiry 2027-03-31; the refusal deadline is 2027-03-01.
    refused = ciero(termination_date="2027-03-31", termination_notice_date="2027-03-01")
    assert bill(refused, "2027-04").subtotal == 0


def test_ciero_late_refusal_renews_and_the_renewal_fee_is_owed():
    late = ciero(termination_date="2027-03-31", termination_notice_date="2027-03-02")
    assert bill(late, "2027-04").subtotal == 120_000
    assert bill(late, "2028-04").subtotal == 0


def test_ciero_cancellation_mid_term_refunds_nothing_and_never_renews():
    data = ciero(termination_date="2026-10-01")
    assert bill(data, "2026-10").subtotal == 0
    assert bill(data, "2027-04").subtotal == 0


def test_ciero_term_from_feb_29_renews_on_march_1():
    data = ciero(start_date="2028-02-29")
    assert bill(data, "2029-02").subtotal == 0
    assert "2029-03-01..2030-02-28" in bill(data, "2029-03").lines[0].description
    assert bill(data, "2032-02").subtotal == 120_000  # 2032 is a leap year again: 2032-02-29


def test_tax_rate_follows_the_billing_month():
    data = monthly("cts", start_date="2019-09-01")
    assert bill(data, "2019-09").tax == 800
    assert bill(data, "2019-10").tax == 1_000

