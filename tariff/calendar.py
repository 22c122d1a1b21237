"""Dates the tariffs count in: business days (営業日), billing months (料金月) and month arithmetic.

All dates are calendar dates in Asia/Tokyo (Japan has had no daylight saving time since 1951, so a
fixed +09:00 offset is exact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import holidays

JST = timezone(timedelta(hours=9), "JST")
ONE_DAY = timedelta(days=1)


class CalendarError(ValueError):
    """A date outside the years the holiday calendar knows."""


def in_year_end_closure(d: date) -> bool:
    """Dec 29 – Jan 3, the year-end closure that is never a business day (spec §0)."""
    return (d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3)


class BusinessCalendar:
    """Mon–Fri minus Japanese national holidays (substitute and citizens' holidays included, from the
    maintained `holidays` package), the year-end closure and any ``extra_closures`` a provider adds."""

    def __init__(self, extra_closures: Iterable[date] = ()) -> None:
        self._holidays = holidays.country_holidays("JP")
        self._extra = frozenset(extra_closures)
        self._first_year = self._holidays.start_year
        self._last_year = self._holidays.end_year

    def is_business_day(self, d: date) -> bool:
        if not self._first_year <= d.year <= self._last_year:
            raise CalendarError(f"no Japanese holiday data for {d.year}")
        return not (d.weekday() >= 5 or in_year_end_closure(d) or d in self._extra or d in self._holidays)

    def business_days_before(self, d: date, n: int) -> list[date]:
        """``[bd(d,-1), …, bd(d,-n)]``: the n business days strictly before ``d``, latest first."""
        days: list[date] = []
        while len(days) < n:
            d -= ONE_DAY
            if self.is_business_day(d):
                days.append(d)
        return days


JAPAN = BusinessCalendar()


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, the unit every plan bills in (料金月)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"no such month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``."""
        year, sep, month = text.partition("-")
        if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
            raise ValueError(f"not a month (YYYY-MM): {text!r}")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, d: date) -> Month:
        return cls(d.year, d.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        """Months since year 0, so month differences are plain subtraction."""
        return self.year * 12 + self.month - 1

    def plus(self, months: int) -> Month:
        year, month0 = divmod(self.index + months, 12)
        return Month(year, month0 + 1)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return self.plus(1).first - ONE_DAY

    @property
    def days(self) -> int:
        return self.last.day


def add_months(d: date, months: int) -> date:
    """The same day-of-month ``months`` later (or earlier), or that month's last day if it has no such
    day: 2027-11-30 + 3 months = 2028-02-29."""
    target = Month.of(d).plus(months)
    return date(target.year, target.month, min(d.day, target.days))


def period_end(start: date, months: int) -> date:
    """Last day of a period of ``months`` starting on (and including) ``start``, counted as the Civil
    Code does (民法 143条2項): the day before the corresponding day, or the last day of the final month
    when it has no corresponding day. A year from 2028-02-29 ends on 2029-02-28."""
    target = Month.of(start).plus(months)
    if start.day > target.days:
        return target.last
    return date(target.year, target.month, start.day) - ONE_DAY


def parse_date(text: str) -> date:
    """A ``YYYY-MM-DD`` date (only that form: the ISO variants ``date.fromisoformat`` also takes, such
    as ``20261201``, are refused so that contract files stay unambiguous)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"not a date (YYYY-MM-DD): {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None


def tokyo_date(moment: datetime) -> date:
    """The Asia/Tokyo calendar date of an offset-aware moment."""
    return moment.astimezone(JST).date()
