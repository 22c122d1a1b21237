"""OsecT (seed 004): per-sensor initial and monthly fees, billed by the day from the opening date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from tariff.calendar import ONE_DAY, BusinessCalendar, Month
from tariff.charges import Charges, Terms, read_charges
from tariff.decisions import OSECT_SURCHARGE_TAXED, osect_new_sensors
from tariff.errors import InputError
from tariff.fields import Fields
from tariff.invoice import Line
from tariff.money import truncate
from tariff.opening import Opening, derive_opening
from tariff.plans.common import read_termination

PLAN = "osect"
INITIAL_FEE = 250_000  # 料金表 第1表 初期費用, per sensor, once
MONTHLY_FEE = 60_000  # 料金表 第1表 基本サービス料, per sensor per month
LATE_INTEREST_RATE = Fraction(145, 1000)  # Art. 21: 年 14.5％
TERMS = Terms(
    "osect",
    interest_rate=LATE_INTEREST_RATE,
    surcharge_multiple=2,  # Art. 19-3: 免れた額の2倍に相当する額に消費税相当額を加算した額
    surcharge_taxed=OSECT_SURCHARGE_TAXED,
)

# Contract-file field of each opening input (errors from derive_opening name the input).
OPENING_FIELDS = {
    "desired": "desired_opening_date",
    "delivered": "equipment_delivered_date",
    "installed": "installation_completed_date",
    "tested": "opening_test_completed_date",
}


@dataclass(frozen=True)
class OsecTContract:
    contract_id: str
    opening: Opening
    termination: date | None
    # (from this day, sensor count): the first entry is the opening date; a change applies from its day
    # (料金表 通則: 増加又は減少のあった日から適用).
    sensors: tuple[tuple[date, int], ...]
    # (day, sensors owing the initial fee): the opening, then each increase (decisions.osect_new_sensors).
    additions: tuple[tuple[date, int], ...]
    charges: Charges

    def damages_cap(self, cause: date) -> int:
        """Art. 27-2: the monthly base fee of the sensors in use when the service became unusable
        (none before the opening date)."""
        in_use = [count for since, count in self.sensors if since <= cause]
        return MONTHLY_FEE * in_use[-1] if in_use else 0

    def lines(self, month: Month) -> list[Line]:
        start = max(month.first, self.opening.opening_date)
        end = month.last if self.termination is None else min(month.last, self.termination)
        if start > end:
            return []
        lines = [
            Line.priced("osect.initial", f"初期費用 initial fee, sensors from {day}", added, INITIAL_FEE)
            for day, added in self.additions
            if start <= day <= end
        ]
        return lines + self._monthly_lines(month, start, end)

    def _monthly_lines(self, month: Month, start: date, end: date) -> list[Line]:
        """Art. 19-1, 料金表 通則: billed from the opening through the termination day inclusive, the
        opening and termination months prorated by the days of that month. One line per sensor-count
        segment, but one truncation per month: each line is the increase of the truncated running sum,
        so the lines add up to floor(Σ 60,000 × sensors × days / days_in_month)."""
        lines = []
        running = Fraction(0)
        billed = 0
        for i, (since, count) in enumerate(self.sensors):
            until = self.sensors[i + 1][0] - ONE_DAY if i + 1 < len(self.sensors) else end
            first, last = max(since, start), min(until, end)
            if first > last:
                continue
            days = (last - first).days + 1
            running += Fraction(MONTHLY_FEE * count * days, month.days)
            amount = truncate(running) - billed
            billed += amount
            why = f"基本サービス料 monthly fee {first}..{last} ({days}/{month.days} days)"
            lines.append(Line("osect.monthly", why, count, MONTHLY_FEE, amount))
        return lines


def parse(fields: Fields, contract_id: str, calendar: BusinessCalendar) -> OsecTContract:
    dates = {
        name: fields.date(key, required=name in ("desired", "delivered"))
        for name, key in OPENING_FIELDS.items()
    }
    try:
        opening = derive_opening(calendar=calendar, **dates)
    except InputError as exc:
        raise fields.error(OPENING_FIELDS[exc.field], exc.message) from None
    opened = opening.opening_date
    # Cancellation before the opening bills the costs incurred (Art. 19-4): out of scope, so refused.
    termination, _ = read_termination(fields, opened, "the opening date")

    count = fields.count("sensors", minimum=1)
    sensors = [(opened, count)]
    additions = [(opened, count)]
    previous_day = None
    for change in fields.items("sensor_changes"):
        day = change.date("date")
        new_count = change.count("count", minimum=1)
        change.done()
        if previous_day is not None and day <= previous_day:
            raise change.error("date", f"{day} is not after the previous change {previous_day}")
        if termination is not None and day > termination:
            raise change.error("date", f"{day} is after termination_date {termination}")
        previous_day = day
        if day <= opened:  # changed before the opening: part of the opening count
            sensors[0] = additions[0] = (opened, new_count)
        else:
            sensors.append((day, new_count))
            if added := osect_new_sensors(count, new_count):
                additions.append((day, added))
        count = new_count
    charges = read_charges(fields, TERMS, opened)
    return OsecTContract(contract_id, opening, termination, tuple(sensors), tuple(additions), charges)
