"""Panasonic Ciero (seed 003): an annual fee per contract, auto-renewing yearly terms (Art. 11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from tariff.calendar import ONE_DAY, BusinessCalendar, Month, period_end
from tariff.charges import Charges, Terms, read_charges
from tariff.damages import paid_by_cap
from tariff.decisions import ciero_renews
from tariff.fields import Fields
from tariff.invoice import Line
from tariff.plans.common import read_termination

PLAN = "ciero"
TERM_MONTHS = 12  # Art. 11: 利用開始日から1年間, renewed 1 year at a time
LATE_INTEREST_RATE = Fraction(146, 1000)  # Art. 19: 年14.6%
TERMS = Terms("ciero", interest_rate=LATE_INTEREST_RATE)


@dataclass(frozen=True)
class CieroContract:
    contract_id: str
    annual_fee: int
    start: date
    termination: date | None
    notice: date | None
    charges: Charges

    def damages_cap(self, cause: date) -> int:
        return paid_by_cap(self.charges.receipts, cause)

    def term_start(self, k: int) -> date:
        """First day of the k-th term (k = 0 is the first); terms follow each other without gaps."""
        return self.start if k == 0 else period_end(self.start, TERM_MONTHS * k) + ONE_DAY

    def lines(self, month: Month) -> list[Line]:
        """The annual fee on the invoice of the month a term starts, for each term that starts (the fee
        of a started term is not refunded on cancellation, Art. 15-1)."""
        # A term starts in its anniversary month, or the month after when that has no such day (Feb 29),
        # so the only candidate is term k = whole years since the start month.
        k = (month.index - Month.of(self.start).index) // TERM_MONTHS
        starts = self.term_start(k) if k >= 0 else None
        if starts is None or Month.of(starts) != month:
            return []
        if k and not ciero_renews(starts - ONE_DAY, self.termination, self.notice):
            return []
        period = f"{starts}..{period_end(starts, TERM_MONTHS)}"
        return [Line.priced("ciero.annual", f"年間利用料 annual fee {period}", 1, self.annual_fee)]


def parse(fields: Fields, contract_id: str, calendar: BusinessCalendar) -> CieroContract:
    fee = fields.count("annual_fee")
    start = fields.date("start_date")
    # Cancellation is possible at any time (Art. 15-1): the notice never moves the date; it only
    # decides whether a renewal was refused in time (decisions.ciero_renews).
    termination, notice = read_termination(fields, start, "start_date", lambda notice: notice)
    return CieroContract(contract_id, fee, start, termination, notice, read_charges(fields, TERMS, start))
