"""OsecT opening date: provider delays move it (the larger one wins), customer lateness does not."""

from __future__ import annotations

from datetime import date

import pytest

from tariff.calendar import BusinessCalendar
from tariff.errors import InputError
from tariff.opening import derive_opening

D = date(2026, 12, 1)  # bd(D,-9)=11-17, -8=11-18, -4=11-25, -2=11-27, -1=11-30
ON_TIME = {"delivered": date(2026, 11, 13), "installed": date(2026, 11, 20)}


def opening(**dates):
    return derive_opening(D, **{**ON_TIME, **dates})


def test_everything_on_time_opens_on_the_desired_date():
    result = opening(tested=date(2026, 11, 27))
    assert (result.opening_date, result.shipping_delay_days, result.test_delay_days) == (D, 0, 0)
    assert result.installation_deadline == date(2026, 11, 25)


def test_delivery_on_the_deadline_is_on_time_and_one_day_later_counts_one_day():
    assert opening(delivered=date(2026, 11, 17), installed=None).shipping_delay_days == 0
    # Delivered on bd(D,-8) itself: "同日の場合は 1日" (Art. 5(9)).
    assert opening(delivered=date(2026, 11, 18), installed=None).opening_date == date(2026, 12, 2)


def test_delivery_over_the_weekend_after_the_deadline_is_at_least_one_day():
    # D = Thu 2026-12-10: bd(D,-9) = Fri 11-27, bd(D,-8) = Mon 11-30; delivered Sat 11-28.
    result = derive_opening(date(2026, 12, 10), date(2026, 11, 28))
    assert (result.shipping_delay_days, result.opening_date) == (1, date(2026, 12, 11))


def test_opening_test_after_bd_minus_2_moves_the_opening():
    assert opening(tested=date(2026, 11, 30)).opening_date == date(2026, 12, 2)  # same day as bd(D,-1) = 1
    assert opening(tested=date(2026, 12, 1)).test_delay_days == 2


def test_both_delays_take_the_larger_not_the_sum():
    result = opening(delivered=date(2026, 11, 19), installed=date(2026, 11, 24), tested=date(2026, 12, 2))
    assert (result.shipping_delay_days, result.test_delay_days) == (2, 3)
    assert result.opening_date == date(2026, 12, 4)


def test_late_installation_blocks_the_test_delay_and_never_moves_the_opening():
    late = opening(installed=date(2026, 11, 26), tested=date(2026, 12, 5))
    assert (late.opening_date, late.test_delay_days) == (D, 0)
    assert "31(16)" in late.explanation[1]
    never = opening(installed=None)
    assert never.opening_date == D


def test_installation_on_the_deadline_is_on_time():
    assert opening(installed=date(2026, 11, 25), tested=date(2026, 11, 30)).test_delay_days == 1


def test_pending_opening_test_counts_no_delay_and_says_so():
    result = opening(tested=None)
    assert result.test_delay_days == 0 and "provisional" in result.explanation[1]


def test_opening_date_is_not_moved_to_a_business_day():
    # D = Fri 2026-12-25, bd(D,-8) = 12-15: delivered that day, 1 day late, opens on Saturday 12-26.
    result = derive_opening(date(2026, 12, 25), date(2026, 12, 15))
    assert result.opening_date == date(2026, 12, 26) and result.opening_date.weekday() == 5


def test_year_end_closure_widens_the_shipping_window():
    # D = Tue 2027-01-05: bd(D,-1) = 01-04, then 12-29..01-03 are closed: bd(D,-8) = 12-18, bd(D,-9) = 12-17.
    result = derive_opening(date(2027, 1, 5), date(2026, 12, 24))
    assert "bd(D,-9) = 2026-12-17" in result.explanation[0]
    assert (result.shipping_delay_days, result.opening_date) == (7, date(2027, 1, 12))


def test_provider_closures_are_honoured():
    closed = BusinessCalendar(extra_closures=[date(2026, 11, 17)])  # bd(D,-9) becomes 11-16
    result = derive_opening(D, date(2026, 11, 17), calendar=closed)
    assert result.shipping_delay_days == 1  # counted from the new bd(D,-8) = 11-17


def test_explanation_names_the_dates_and_articles():
    text = "\n".join(opening(delivered=date(2026, 11, 19)).explanation)
    assert "2026-11-17" in text and "2026-11-18" in text and "10-3(1)" in text and "2026-12-03" in text


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        ({"installed": date(2026, 11, 10)}, "installed"),  # before delivery
        ({"tested": date(2026, 11, 19)}, "tested"),  # before installation
        ({"installed": None, "tested": date(2026, 11, 12)}, "tested"),  # before delivery
    ],
)
def test_contradictory_dates_name_the_input(dates, field):
    with pytest.raises(InputError) as err:
        opening(**dates)
    assert err.value.field == field


def test_desired_date_beyond_the_holiday_data_names_desired():
    with pytest.raises(InputError) as err:
        derive_opening(date(2200, 12, 1), date(2200, 11, 1))
    assert err.value.field == "desired"
