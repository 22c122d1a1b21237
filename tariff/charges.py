"""What a contract file records besides its fees, and the invoice lines it adds (spec §0):
``payments`` (late ones owe interest, and fees received cap some plans' damages), ``evasions`` (fees
the customer unlawfully evaded: the evaded amount plus the surcharge) and ``damages`` (the provider's
liability, capped per plan, credited on the invoice)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from tariff.calendar import Month
from tariff.decisions import charge_month
from tariff.fields import Fields
from tariff.interest import late_interest
from tariff.invoice import Line, UntaxedLine


@dataclass(frozen=True)
class Terms:
    """What a plan's terms say about late payment and evasion (None: nothing); every plan caps damages,
    each in its own way (the contract's ``damages_cap``)."""

    prefix: str  # of the line codes: ``osect.late_interest``
    interest_rate: Fraction | None = None
    surcharge_multiple: int | None = None  # × the evaded amount (ex-tax)
    surcharge_taxed: bool = False


@dataclass(frozen=True)
class Payment:
    due: date
    paid: date
    amount: int  # yen received, excluding earlier interest


@dataclass(frozen=True)
class Evasion:
    recorded: date
    evaded: int  # ex-tax yen the customer unlawfully avoided paying


@dataclass(frozen=True)
class Claim:
    cause: date  # the day the cause of the damage arose
    settled: date
    claimed: int


@dataclass(frozen=True)
class Charges:
    terms: Terms
    payments: tuple[Payment, ...] = ()
    evasions: tuple[Evasion, ...] = ()
    claims: tuple[Claim, ...] = ()

    @property
    def recorded(self) -> bool:
        """Whether there is any record (most contracts have none)."""
        return bool(self.payments or self.evasions or self.claims)

    @property
    def receipts(self) -> list[tuple[date, int]]:
        """(day received, yen) of every payment, for the damages caps (tariff.damages)."""
        return [(p.paid, p.amount) for p in self.payments]

    def lines(self, month: Month, damages_cap: Callable[[date], int]) -> list[Line]:
        """The lines ``month``'s invoice carries for these records (decisions.charge_month)."""
        terms, code = self.terms, self.terms.prefix
        lines: list[Line] = []
        for p in self.payments:
            if terms.interest_rate is None or charge_month(p.paid) != month:
                continue
            late = late_interest(p.amount, terms.interest_rate, p.due, p.paid)
            if late.interest:
                why = (f"延滞利息 late-payment interest: {p.amount:,} due {p.due}, paid {p.paid}, {late.days} "
                       f"day(s) at {_percent(terms.interest_rate)} %")
                lines.append(UntaxedLine.priced(f"{code}.late_interest", why, 1, late.interest))
        for e in self.evasions:  # only plans with a surcharge hold any (read_charges)
            if charge_month(e.recorded) != month:
                continue
            surcharge = Line if terms.surcharge_taxed else UntaxedLine
            lines += [
                Line.priced(f"{code}.evaded", f"免れた料金 evaded fees recorded {e.recorded}", 1, e.evaded),
                surcharge.priced(f"{code}.surcharge", f"割増金 surcharge × {terms.surcharge_multiple}", 1,
                                 terms.surcharge_multiple * e.evaded),
            ]
        for c in self.claims:
            if charge_month(c.settled) != month:
                continue
            cap = damages_cap(c.cause)
            why = f"損害賠償 damages for {c.cause}: claimed {c.claimed:,}, cap {cap:,}"
            lines.append(UntaxedLine.priced(f"{code}.damages", why, 1, -min(c.claimed, cap)))
        return lines


def read_charges(fields: Fields, terms: Terms, starts: date) -> Charges:
    """The optional ``payments``, ``evasions`` and ``damages`` lists of a contract file; evasions only
    for plans whose terms set a surcharge. ``starts``: no record may be dated before it."""

    def record_date(item: Fields, key: str, not_before: date, what: str) -> date:
        day = item.date(key)
        if day < not_before:
            raise item.error(key, f"{day} is before {what} {not_before}")
        return day

    payments = []
    for item in fields.items("payments"):
        due = record_date(item, "due", starts, "the contract's start")
        payments.append(Payment(due, record_date(item, "paid", starts, "the contract's start"),
                                item.count("amount")))
        item.done()
    evasions = []
    evasion_items = fields.items("evasions")
    if evasion_items and terms.surcharge_multiple is None:
        raise fields.error("evasions", "this plan's terms set no surcharge")
    for item in evasion_items:
        evasions.append(Evasion(record_date(item, "date", starts, "the contract's start"),
                                item.count("evaded", minimum=1)))
        item.done()
    claims = []
    for item in fields.items("damages"):
        cause = record_date(item, "cause", starts, "the contract's start")
        claims.append(Claim(cause, record_date(item, "settled", cause, "cause"), item.count("claimed")))
        item.done()
    return Charges(terms, tuple(payments), tuple(evasions), tuple(claims))


def _percent(rate: Fraction) -> str:
    """"14.5" for 145/1000, exactly (a rate in the terms has a finite decimal form)."""
    return f"{(Decimal(rate.numerator) / rate.denominator * 100).normalize():f}"
