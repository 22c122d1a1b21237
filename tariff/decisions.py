"""Every reading of the terms that their text leaves open, in one place, each citing its article.

"Spec" marks the project's decisions from specs/tariff.md; "Own" marks readings made here for cases the
spec does not settle. Rules the terms state plainly live with their plan, also citing the article.
Seeds: 000 Secure Camera Cloud, 001 CTS, 002 dot-i, 003 Ciero, 004 OsecT.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from tariff.calendar import Month, add_months
from tariff.money import truncate


def combined_opening_delay(shipping_delay_days: int, test_delay_days: int) -> int:
    """Spec (004 Art. 10-3(1)(2)): when both delays apply the opening moves by the larger one — that
    date satisfies both rules; the delays are not added together."""
    return max(shipping_delay_days, test_delay_days)


# Own (004 Art. 10-3(2)): an opening test with no completion date yet adds no delay; the opening date is
# then provisional and moves once the test date is recorded.
PENDING_TEST_DELAY_DAYS = 0


def osect_new_sensors(count_before: int, count_after: int) -> int:
    """Own (004 料金表 第1表, initial fee "OsecT センサー1台の契約ごとに"): each increase of the sensor
    count is a new per-sensor contract and owes the initial fee, even after an earlier decrease."""
    return max(0, count_after - count_before)


def tax_date(month: Month) -> date:
    """Own (004 料金表 通則 消費税相当額の加算; 000 Art. 40): an invoice is taxed once, at the rate in
    force on the first day of its billing month (the one rate change, 2019-10-01, fell on a 1st)."""
    return month.first


def effective_termination(requested: date, earliest: date) -> date:
    """Spec for Secure Camera Cloud (000 Art. 19); own for dot-i (002 Art. 13-1) and CTS (001 Art.
    12-3): a notice given too late does not void the termination; it takes effect at ``earliest``, the
    first date the notice period allows."""
    return max(requested, earliest)


def scc_early_termination_months(minimum_last: Month, terminated: Month) -> int:
    """Spec (000 Art. 11-3): on termination before the minimum period ends, the termination month is
    billed normally and the months of the minimum period after it are added as a lump sum at the
    monthly total, so at least 12 months are always billed. (A termination is never before the service
    start, so it never precedes the minimum period's first month by more than one.)"""
    return max(0, minimum_last.index - terminated.index)


def scc_outage_credit(monthly_total: int, exempt_days: int, month: Month) -> int:
    """Spec (000 Art. 34-5): credit = floor(monthly total × exempt days / days in month), in the month
    the outage ended. Own: exempt days of all outages ending in one month are summed before the one
    truncation, and the credit never exceeds that month's monthly total (nothing is refunded)."""
    return min(monthly_total, truncate(Fraction(monthly_total * exempt_days, month.days)))


def outage_during_suspension(
    outage_start: date, outage_end: date, suspensions: tuple[tuple[date, date], ...]
) -> bool:
    """Spec (000 Art. 34-5: 第 31 条（利用停止）の規定以外の事由により): no exemption while the customer is
    suspended for its own fault. Own: an outage overlapping any suspension day is not exempt."""
    return any(outage_start <= end and start <= outage_end for start, end in suspensions)


def monthly_plan_bills(month: Month, start: date, termination: date | None) -> bool:
    """Own (002 Art. 4, 12-1①; 001 Art. 5: prices and terms set per contract): per-contract monthly
    plans bill the whole monthly fee for every calendar month the contract is in force on any day — no
    daily proration; dot-i's clause against same-month start/stop churn presumes the fee is monthly."""
    return Month.of(start) <= month and (termination is None or month <= Month.of(termination))


CIERO_REFUSAL_DAYS = 30  # 003 Art. 11: 満了日の30日前までに…更新拒絶の通知


def ciero_renews(expiry: date, termination: date | None, notice: date | None) -> bool:
    """Spec (003 Art. 11): the annual term renews for a year unless the customer refuses at least 30
    days before expiry. Own: a termination dated on the expiry date is that refusal; when its notice
    came later than that, the renewal happened and its annual fee is owed (paid fees are not refunded,
    Art. 15-1) although the service ends on the termination date. A termination before expiry is a
    cancellation (Art. 15-1) and nothing renews."""
    if termination is None or termination > expiry:
        return True
    if termination < expiry:
        return False
    return notice is not None and notice > expiry - timedelta(days=CIERO_REFUSAL_DAYS)


def charge_month(day: date) -> Month:
    """Own (004 Art. 19-3, 21; 000 Art. 37-39; 003 Art. 19; 002 Art. 14-8: the terms let the provider
    claim these without saying on which bill): late interest goes on the invoice of the month the late
    payment was received, an evasion's amount and surcharge on that of the month it was recorded, and
    damages as a credit on that of the month the claim was settled (the invoice total may then be
    negative: a credit note)."""
    return Month.of(day)


# Own (消費税法 6条 別表第二 (interest is exempt); damages and a penalty are no consideration for a
# service, so not taxed; 000 Art. 40 adds tax only where the law imposes it): late interest, damages and
# Secure Camera Cloud's surcharge (000 Art. 37 names no tax) are outside the invoice's taxable subtotal.
# OsecT's surcharge carries tax because 004 Art. 19-3 says so (消費税相当額を加算した額).
OSECT_SURCHARGE_TAXED = True
SCC_SURCHARGE_TAXED = False


def damages_window(cause: date, months: int) -> tuple[date, date]:
    """Own (002 Art. 14-8, 001 Art. 13-9: 損害の事由が生じた時点から遡って過去３か月間): receipts dated
    after the same day ``months`` earlier and up to the day of the cause count, as (after, through)."""
    return add_months(cause, -months), cause
