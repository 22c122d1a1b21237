"""OsecT invoices: day-prorated opening and termination months, sensor-count changes, initial fees."""

from __future__ import annotations

from tarifftest import C1, amounts, bill, osect


def test_months_before_the_opening_and_after_termination_are_empty():
    data = osect(termination_date="2027-03-15")
    for month in ("2026-11", "2027-04"):
        inv = bill(data, month)
        assert (inv.lines, inv.subtotal, inv.tax, inv.total) == ((), 0, 0, 0)


def test_a_full_month_is_exactly_the_monthly_fee_per_sensor():
    assert amounts(bill(osect(), "2027-01")) == [("osect.monthly", 120_000)]


def test_termination_month_is_prorated_through_the_termination_day():
    # floor(60,000 × 2 × 15 / 31) = floor(58,064.5…)
    assert amounts(bill(osect(termination_date="2027-03-15"), "2027-03")) == [("osect.monthly", 58_064)]


def test_opening_and_termination_on_the_same_day_bill_one_day():
    data = osect(sensors=1, termination_date="2026-12-01")
    assert amounts(bill(data, "2026-12")) == [("osect.initial", 250_000), ("osect.monthly", 1_935)]


def test_leap_february_prorates_by_29_days():
    data = osect(
        desired_opening_date="2028-02-15",
        equipment_delivered_date="2028-02-01",
        installation_completed_date=None,
        opening_test_completed_date=None,
        sensors=1,
    )
    assert amounts(bill(data, "2028-02"))[1] == ("osect.monthly", 31_034)  # floor(60,000 × 15/29)
    assert amounts(bill(data, "2028-03")) == [("osect.monthly", 60_000)]


def test_sensor_increase_applies_from_its_day_with_one_truncation_per_month():
    # C-1: 2 sensors, 3 from 2027-02-10: floor(60,000 × (2×9 + 3×19) / 28) = floor(160,714.28…).
    inv = bill(C1, "2027-02")
    assert amounts(inv) == [("osect.initial", 250_000), ("osect.monthly", 38_571), ("osect.monthly", 122_143)]
    assert [line.quantity for line in inv.lines] == [1, 2, 3]
    assert inv.subtotal == 250_000 + 160_714


def test_segment_lines_add_up_to_a_single_truncation():
    # Separate truncations would give floor(60,000×2×10/31) + floor(60,000×3×21/31) = 38,709 + 121,935
    # = 160,644;
    # one truncation of the sum gives 160,645.
    data = osect(sensor_changes=[{"date": "2027-01-11", "count": 3}])
    inv = bill(data, "2027-01")
    assert sum(line.amount for line in inv.lines if line.code == "osect.monthly") == 160_645


def test_decrease_owes_no_initial_fee_and_a_later_increase_does():
    data = osect(sensor_changes=[{"date": "2027-01-01", "count": 1}, {"date": "2027-03-01", "count": 2}])
    assert amounts(bill(data, "2027-01")) == [("osect.monthly", 60_000)]
    assert amounts(bill(data, "2027-03")) == [("osect.initial", 250_000), ("osect.monthly", 120_000)]


def test_change_before_the_opening_sets_the_opening_count():
    data = osect(sensor_changes=[{"date": "2026-11-20", "count": 3}])
    assert amounts(bill(data, "2026-12")) == [("osect.initial", 750_000), ("osect.monthly", 180_000)]
    assert bill(data, "2027-01").subtotal == 180_000


def test_change_on_the_termination_day_counts_that_one_day():
    data = osect(termination_date="2027-01-31", sensor_changes=[{"date": "2027-01-31", "count": 5}])
    # floor(60,000 × (2×30 + 5×1) / 31) = floor(125,806.4…) plus 3 new sensors' initial fee.
    inv = bill(data, "2027-01")
    assert inv.subtotal == 750_000 + 125_806


def test_billing_starts_on_the_desired_date_even_if_never_installed():
    data = osect(installation_completed_date=None, opening_test_completed_date=None)
    assert bill(data, "2026-12").subtotal == 500_000 + 120_000
