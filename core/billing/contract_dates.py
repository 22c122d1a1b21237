"""Completion dates that flow from the sensors into an OsecT contract (specs/tariff.md §1).

Our reading of the spec: the installation and the opening test are events of the contract's equipment
as a whole (004 Art. 10-3, 31(16)), so an OsecT contract's installation is completed once *every*
sensor linked to it has reported its installation, on the latest of those days in Asia/Tokyo; its
opening test likewise. While one sensor has not reported, the date is unknown (the tariff engine then
treats the step as not done). A date billing staff set in the contract file wins over the reports.
Link only the sensors delivered for the opening: one added later (``sensor_changes``) would move it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from core.store.controlplane import Sensor
from tariff.calendar import parse_date, tokyo_date
from tariff.plans import osect

# Contract-file field → the Sensor column holding that report (core.fleet.installation records them).
SENSOR_COLUMNS = {
    osect.OPENING_FIELDS["installed"]: "installed_at",
    osect.OPENING_FIELDS["tested"]: "opening_tested_at",
}
CONTRACT, SENSORS = "contract", "sensors"  # where a date came from


@dataclass(frozen=True)
class CompletionDate:
    field: str
    date: date | None
    source: str | None  # CONTRACT, SENSORS, or None: no sensor linked and not set in the file
    waiting_for: tuple[str, ...] = ()  # serials of linked sensors that have not reported yet


def completion_dates(document: Mapping, sensors: Sequence[Sensor]) -> tuple[CompletionDate, ...]:
    """The contract's completion dates and their sources; none for plans other than OsecT."""
    if document.get("plan") != osect.PLAN:
        return ()
    return tuple(_completion(document, sensors, field, column) for field, column in SENSOR_COLUMNS.items())


def _completion(document: Mapping, sensors: Sequence[Sensor], field: str, column: str) -> CompletionDate:
    if document.get(field) is not None:
        return CompletionDate(field, parse_date(document[field]), CONTRACT)
    if not sensors:
        return CompletionDate(field, None, None)
    reported = [getattr(s, column) for s in sensors]
    waiting = tuple(s.serial for s, when in zip(sensors, reported, strict=True) if when is None)
    latest = None if waiting else max(tokyo_date(when) for when in reported)
    return CompletionDate(field, latest, SENSORS, waiting)


def with_reported_dates(document: Mapping, dates: Sequence[CompletionDate]) -> dict:
    """The contract file with the dates the sensors reported filled in."""
    reported = {d.field: d.date.isoformat() for d in dates if d.source == SENSORS and d.date}
    return {**document, **reported}
