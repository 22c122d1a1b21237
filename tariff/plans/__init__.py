"""The plans: each parses its contract-file fields into a contract that yields invoice lines."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from tariff.calendar import BusinessCalendar
from tariff.fields import Fields
from tariff.invoice import Contract
from tariff.plans import ciero, monthly, osect, secure_camera_cloud

Parser = Callable[[Fields, str, BusinessCalendar], Contract]

PARSERS: dict[str, Parser] = {
    osect.PLAN: osect.parse,
    secure_camera_cloud.PLAN: secure_camera_cloud.parse,
    monthly.DOT_I.code: monthly.parser(monthly.DOT_I),
    monthly.CTS.code: monthly.parser(monthly.CTS),
    ciero.PLAN: ciero.parse,
}

# Late-payment interest per year (延滞利息); dot-i and CTS state none.
LATE_INTEREST_RATES: dict[str, Fraction] = {
    osect.PLAN: osect.LATE_INTEREST_RATE,
    secure_camera_cloud.PLAN: secure_camera_cloud.LATE_INTEREST_RATE,
    ciero.PLAN: ciero.LATE_INTEREST_RATE,
}
