"""OsecT opening date (開通日, 004 Art. 9–10): the desired date, moved only by provider-caused delays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tariff.calendar import JAPAN, BusinessCalendar, CalendarError
from tariff.decisions import PENDING_TEST_DELAY_DAYS, combined_opening_delay
from tariff.errors import InputError

# Business days before the desired date D (営業日前) that the terms name.
SHIPPING_DEADLINE = 9  # equipment delivered by bd(D,-9) (Art. 10-3(1); 別紙1 4.1)
SHIPPING_COUNT_FROM = 8  # shipping delay counted from bd(D,-8) (Art. 5(9))
INSTALLATION_DEADLINE = 4  # customer installs by bd(D,-4) (Art. 31(16))
TEST_DEADLINE = 2  # opening test completed by bd(D,-2) (Art. 10-3(2))
TEST_COUNT_FROM = 1  # test delay counted from bd(D,-1) (Art. 5(10))


@dataclass(frozen=True)
class Opening:
    desired: date
    opening_date: date
    shipping_delay_days: int
    test_delay_days: int
    installation_deadline: date
    explanation: tuple[str, ...]


def delay_days(done: date, deadline: date, count_from: date) -> int:
    """Days of a provider delay (Art. 5(9)(10)): 0 when done by the deadline, else calendar days
    counted from ``count_from`` through the day it was done, at least 1 (same day = 1)."""
    if done <= deadline:
        return 0
    return max(1, (done - count_from).days + 1)


def _delay(why: list[str], event: str, done: date, bd: dict[int, date], deadline: int, count_from: int,
           kind: str, articles: str) -> int:
    """The days of one provider delay (delay_days against bd(D,-deadline), counted from
    bd(D,-count_from)), its derivation appended to ``why``."""
    days = delay_days(done, bd[deadline], bd[count_from])
    if days:
        why.append(f"{event} {done}, after bd(D,-{deadline}) = {bd[deadline]}: {kind} counted from "
                   f"bd(D,-{count_from}) = {bd[count_from]} = {days} day(s) ({articles})")
    else:
        why.append(f"{event} {done}, by bd(D,-{deadline}) = {bd[deadline]}: no {kind}")
    return days


def derive_opening(
    desired: date,
    delivered: date,
    installed: date | None = None,
    tested: date | None = None,
    calendar: BusinessCalendar = JAPAN,
) -> Opening:
    """The opening date and how it was derived. Errors name the input: desired, installed, tested."""
    if installed is not None and installed < delivered:
        raise InputError("installed", f"{installed} is before the equipment was delivered ({delivered})")
    if tested is not None and tested < (installed or delivered):
        before = "installation was completed" if installed else "equipment was delivered"
        raise InputError("tested", f"{tested} is before the {before} ({installed or delivered})")
    try:
        days = calendar.business_days_before(desired, SHIPPING_DEADLINE)
    except CalendarError as exc:
        raise InputError("desired", str(exc)) from None
    bd = dict(enumerate(days, start=1))  # bd[n] = bd(D,-n)

    why = []
    shipping = _delay(why, "equipment delivered", delivered, bd, SHIPPING_DEADLINE, SHIPPING_COUNT_FROM,
                      "shipping delay", "Art. 10-3(1), 5(9)")

    deadline = bd[INSTALLATION_DEADLINE]
    if installed is None or installed > deadline:
        # Customer-caused lateness never moves the opening date (Art. 10-2, 31(16)), and the test delay
        # applies only after the customer installed in time (Art. 10-3(2) 設置が遅滞なく完了後).
        test = 0
        state = "not completed by" if installed is None else f"completed {installed}, after"
        why.append(
            f"installation {state} bd(D,-4) = {deadline}: billing starts regardless and no opening-test "
            "delay applies (Art. 10-2, 31(16))"
        )
    elif tested is None:
        test = PENDING_TEST_DELAY_DAYS
        why.append("opening test not completed yet: no test delay counted, the opening date is provisional")
    else:
        test = _delay(why, "opening test completed", tested, bd, TEST_DEADLINE, TEST_COUNT_FROM, "test delay",
                      "Art. 10-3(2), 5(10)")

    delay = combined_opening_delay(shipping, test)
    opening = desired + timedelta(days=delay)
    why.append(
        f"opening date = desired {desired} + {delay} day(s) = {opening} (the larger delay; not moved to a "
        "business day)"
    )
    return Opening(desired, opening, shipping, test, deadline, tuple(why))
