"""Per-contract monthly plans without list prices: SECOM dot-i (seed 002) and CTS (seed 001).

The price is the contract's ``monthly_fee``; the two plans differ only in their notice period, so both
are one ``MonthlyPlan`` with different terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from tariff.calendar import BusinessCalendar, Month, add_months
from tariff.charges import Charges, Terms, read_charges
from tariff.damages import fees_received_cap
from tariff.decisions import monthly_plan_bills
from tariff.fields import Fields
from tariff.invoice import Line
from tariff.plans.common import read_termination

DAMAGES_CAP_MONTHS = 3  # 002 Art. 14-8, 001 Art. 13-9: fees received in the 3 months before the cause


@dataclass(frozen=True)
class MonthlyPlan:
    code: str
    terms: Terms  # no late interest or surcharge stated
    notice_period: Callable[[date], date]  # notice date → earliest termination date


DOT_I = MonthlyPlan("dot-i", Terms("dot-i"), lambda notice: add_months(notice, 2))  # 002 Art. 13-1: ２か月前までに
CTS = MonthlyPlan("cts", Terms("cts"), lambda notice: notice + timedelta(days=7))  # 001 Art. 12-3: 7 日前までに


@dataclass(frozen=True)
class MonthlyContract:
    contract_id: str
    plan: MonthlyPlan
    monthly_fee: int
    start: date
    termination: date | None
    charges: Charges

    def damages_cap(self, cause: date) -> int:
        return fees_received_cap(self.charges.receipts, cause, DAMAGES_CAP_MONTHS)

    def lines(self, month: Month) -> list[Line]:
        if not monthly_plan_bills(month, self.start, self.termination):
            return []
        return [Line.priced(f"{self.plan.code}.monthly", "月額料金 monthly fee", 1, self.monthly_fee)]


def parser(plan: MonthlyPlan) -> Callable[[Fields, str, BusinessCalendar], MonthlyContract]:
    def parse(fields: Fields, contract_id: str, calendar: BusinessCalendar) -> MonthlyContract:
        fee = fields.count("monthly_fee")
        start = fields.date("start_date")
        termination, _ = read_termination(fields, start, "start_date", plan.notice_period)
        return MonthlyContract(contract_id, plan, fee, start, termination, read_charges(fields, plan.terms, start))

    return parse

