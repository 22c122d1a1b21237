"""Contract-file pieces every plan shares: the termination date and its notice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from tariff.decisions import effective_termination
from tariff.fields import Fields


def read_termination(
    fields: Fields,
    starts: date,
    start_name: str,
    notice_period: Callable[[date], date] | None = None,
) -> tuple[date | None, date | None]:
    """``termination_date`` (not before ``starts``) and, for plans with a notice rule,
    ``termination_notice_date`` (needs a termination date, not after it). Returns the termination date
    in effect — pushed back to ``notice_period(notice)`` when notice came too late — and the notice."""
    requested = fields.date("termination_date", required=False)
    if requested is not None and requested < starts:
        raise fields.error("termination_date", f"{requested} is before {start_name} {starts}")
    if notice_period is None:
        return requested, None
    notice = fields.date("termination_notice_date", required=False)
    if notice is None:
        return requested, None
    if requested is None:
        raise fields.error("termination_date", "missing (termination_notice_date is set)")
    if notice > requested:
        raise fields.error("termination_notice_date", f"{notice} is after termination_date {requested}")
    return effective_termination(requested, notice_period(notice)), notice
