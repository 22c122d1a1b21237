"""Every worked example of specs/tariff.md, each with the spec's own numbers."""

from __future__ import annotations

from datetime import date

from tarifftest import C1, S1, amounts, bill, osect

from tariff.calendar import JAPAN
from tariff.contracts import parse_contract
from tariff.interest import late_interest
from tariff.opening import derive_opening
from tariff.plans import LATE_INTEREST_RATES

D = date(2026, 12, 1)


def test_business_days_before_desired_date_skip_labor_thanksgiving():
    # §1: "D = 2026-12-01 (2026-11-23 is a holiday), so bd(D,-9) = 2026-11-17, bd(D,-8) = 2026-11-18".
    assert not JAPAN.is_business_day(date(2026, 11, 23))
    assert JAPAN.business_days_before(D, 9)[-2:] == [date(2026, 11, 18), date(2026, 11, 17)]


def test_delivery_on_2026_11_19_delays_opening_two_days():
    # §1: "Delivered 2026-11-19 → shipping delay 2 days → opening 2026-12-03."
    opening = derive_opening(D, date(2026, 11, 19))
    assert (opening.shipping_delay_days, opening.opening_date) == (2, date(2026, 12, 3))


def test_osect_december_invoice_two_sensors_from_december_3():
    # §1: "December = 250,000×2 + floor(60,000×2×29/31) = 500,000 + 112,258 = 612,258; tax 61,225;
    # total 673,483."
    data = osect(equipment_delivered_date="2026-11-19")
    assert parse_contract(data).opening.opening_date == date(2026, 12, 3)
    inv = bill(data, "2026-12")
    assert amounts(inv) == [("osect.initial", 500_000), ("osect.monthly", 112_258)]
    assert (inv.subtotal, inv.tax, inv.total) == (612_258, 61_225, 673_483)


def test_scc_october_invoice_holds_the_initial_fees():
    # §2: "October invoice = 15,000 + 3,000 = 18,000 (tax 1,800)".
    inv = bill(S1, "2026-10")
    assert amounts(inv) == [("scc.setup", 15_000), ("scc.ip_vpn_initial", 3_000)]
    assert (inv.subtotal, inv.tax) == (18_000, 1_800)


def test_scc_november_is_the_first_billed_month():
    # §2: "November (first billed month) = 5,000 + 4×4,500 + 1×1,500 + 2×2,000 = 28,500 (tax 2,850)".
    inv = bill(S1, "2026-11")
    assert [(line.code, line.quantity, line.unit_price) for line in inv.lines] == [
        ("scc.basic", 1, 5_000),
        ("scc.cameras", 4, 4_500),
        ("scc.ip_vpn", 1, 1_500),
        ("scc.storage", 2, 2_000),
    ]
    assert (inv.subtotal, inv.tax) == (28_500, 2_850)


def test_late_interest_example_at_ciero_rate():
    # §0: "10,000 yen due 2024-04-30 paid 2024-05-31 at 14.6 % → 30 days → 120 yen."
    result = late_interest(10_000, LATE_INTEREST_RATES["ciero"], date(2024, 4, 30), date(2024, 5, 31))
    assert (result.days, result.interest) == (30, 120)


def test_example_contract_files_are_valid():
    # §4's two contract files parse as they stand; C-1's dates are all on time, so it opens on D.
    assert parse_contract(C1).opening.opening_date == D
    assert parse_contract(S1).cameras == 4


def test_example_outage_of_96_hours_exempts_3_days_of_december():
    # S-1's outage: 2026-12-03 10:00 → 12-07 10:00 = 96 h → one 72-hour block = 3 days (Art. 34-5);
    # credit = floor(28,500 × 3 / 31) = 2,758.
    inv = bill(S1, "2026-12")
    assert inv.lines[-1].code == "scc.outage_credit" and inv.lines[-1].amount == -2_758
    assert (inv.subtotal, inv.tax, inv.total) == (25_742, 2_574, 28_316)
