"""Business days from the `holidays` Japan calendar plus the year-end closure; month arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from tariff.calendar import JAPAN, BusinessCalendar, CalendarError, Month, add_months, parse_date, period_end


def bd(d: str, n: int, calendar: BusinessCalendar = JAPAN) -> date:
    return calendar.business_days_before(date.fromisoformat(d), n)[-1]


def test_golden_week_2026_is_skipped_including_the_substitute_holiday():
    # 4/29 Shōwa Day (Wed), 5/3 Sun, 5/4–5/5, 5/6 substitute for Constitution Day falling on Sunday.
    assert not JAPAN.is_business_day(date(2026, 5, 6))
    assert [bd("2026-05-07", n) for n in (1, 2, 3)] == [
        date(2026, 5, 1),
        date(2026, 4, 30),
        date(2026, 4, 28),
    ]
    assert [bd("2026-05-11", n) for n in range(1, 10)] == [
        date(2026, 5, 8),
        date(2026, 5, 7),
        date(2026, 5, 1),
        date(2026, 4, 30),
        date(2026, 4, 28),
        date(2026, 4, 27),
        date(2026, 4, 24),
        date(2026, 4, 23),
        date(2026, 4, 22),
    ]


def test_year_end_closure_dec_29_to_jan_3_even_on_weekdays():
    assert not any(JAPAN.is_business_day(date(2026, 12, d)) for d in (29, 30, 31))  # Tue–Thu
    assert JAPAN.is_business_day(date(2026, 12, 28)) and JAPAN.is_business_day(date(2027, 1, 4))
    assert bd("2027-01-05", 1) == date(2027, 1, 4)
    assert bd("2027-01-05", 2) == date(2026, 12, 28)
    assert bd("2027-01-04", 1) == date(2026, 12, 28)


def test_substitute_and_citizens_holidays_come_from_the_library():
    assert not JAPAN.is_business_day(date(2025, 11, 24))  # substitute for Nov 23 on a Sunday
    assert not JAPAN.is_business_day(date(2026, 9, 22))  # 国民の休日 between 9/21 and 9/23
    assert bd("2026-09-24", 1) == date(2026, 9, 18)
    assert not JAPAN.is_business_day(date(2019, 5, 1))  # 2019 enthronement day, a one-off holiday


def test_weekends_are_not_business_days():
    assert bd("2026-11-30", 1) == date(2026, 11, 27)  # Monday → previous Friday


def test_leap_day_is_an_ordinary_business_day():
    assert JAPAN.is_business_day(date(2028, 2, 29))
    assert bd("2028-03-01", 1) == date(2028, 2, 29)
    assert bd("2027-03-01", 1) == date(2027, 2, 26)


def test_extra_closures_are_injectable():
    closed = BusinessCalendar(extra_closures=[date(2026, 11, 30), date(2026, 11, 27)])
    assert bd("2026-12-01", 1, closed) == date(2026, 11, 26)
    assert bd("2026-12-01", 1) == date(2026, 11, 30)  # the default calendar is untouched


def test_years_without_holiday_data_are_refused_not_guessed():
    with pytest.raises(CalendarError, match="2200"):
        JAPAN.is_business_day(date(2200, 1, 5))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2027-11-30", 3, "2028-02-29"),  # leap year: Feb 29 exists
        ("2026-11-30", 3, "2027-02-28"),  # no Feb 30/29 → the month's last day
        ("2026-10-31", 1, "2026-11-30"),
        ("2026-05-15", 3, "2026-08-15"),
        ("2027-05-31", -3, "2027-02-28"),
        ("2026-12-15", 2, "2027-02-15"),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_last_day(start, months, expected):
    assert add_months(date.fromisoformat(start), months) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-04-01", 12, "2027-03-31"),
        ("2026-04-15", 12, "2027-04-14"),
        ("2028-02-29", 12, "2029-02-28"),  # no Feb 29 in 2029: the month's last day (民法143条2項)
        ("2027-03-01", 12, "2028-02-29"),
    ],
)
def test_period_end_counts_like_the_civil_code(start, months, expected):
    assert period_end(date.fromisoformat(start), months) == date.fromisoformat(expected)


def test_month_arithmetic_and_parsing():
    m = Month.parse("2028-02")
    assert (m.days, m.first, m.last, str(m)) == (29, date(2028, 2, 1), date(2028, 2, 29), "2028-02")
    assert Month.parse("2026-12").plus(1) == Month(2027, 1) and Month(2027, 1).plus(-13) == Month(2025, 12)
    for bad in ("2026-13", "2026-1", "26-01", "2026/01", "2026-00"):
        with pytest.raises(ValueError):
            Month.parse(bad)


@pytest.mark.parametrize("bad", ["20261201", "2026-12-1", "2026-02-30", "2026-W01-1", ""])
def test_parse_date_takes_only_yyyy_mm_dd(bad):
    with pytest.raises(ValueError):
        parse_date(bad)
