"""The data team's statistics: every table of every period, suppressed to k tenants and m devices.

The result is one long table of rows ``(period, table, group, label, sites, devices, measure,
value)`` — ``sites`` the tenants a cell aggregates, ``devices`` its devices — with what was
suppressed counted per table and reason (table ``suppressed``; never the values) and the export's
parameters (table ``export``). No row carries a tenant, site, sensor, address, MAC, host name,
serial or free text: labels come from core.stats.labels.

Statistics are of whole days: a period not yet over is published up to the end of yesterday (UTC), so a
period's statistics, kept once computed, change only with late data for its days (core.stats.freshness),
not with every batch of the day.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from core.export.anonymity import Cell, suppress
from core.stats.alerts import alert_tables
from core.stats.devices import device_tables, fleet
from core.stats.freshness import fingerprints
from core.stats.health import fleet_health
from core.stats.periods import Period, periods, so_far
from core.stats.table import Table
from core.stats.traffic import ot_functions, protocols
from core.store.clickhouse import ClickHouseStore

COLUMNS = ("period", "table", "group", "label", "sites", "devices", "measure", "value")
FIRMWARE, FAMILIES = "firmware_by_model_family", "devices_by_model_family"
FAMILY_SUPPRESSED = "model_family_suppressed"  # its family's own cell is not published
CACHED_PERIODS = 512  # computed periods kept in memory (each a few hundred rows)
DEVICES = ("ledger devices (site addresses in protocols and ot_functions, sensors in fleet_health);"
           " a cell is published with at least k sites and m devices, suppressed cells merge into 'other'")


@dataclass
class Stats:
    kind: str
    k: int
    m: int
    rows: list[dict] = field(default_factory=list)
    suppressed: dict[str, Counter] = field(default_factory=dict)  # "period/table" → reason → cells

    def emit(self, period: Period, table: Table, cell: Cell) -> None:
        for measure, value in table.measures(cell).items():
            self.rows.append({"period": period.name, "table": table.name, "group": cell.group, "label": cell.label,
                              "sites": len(cell.tenants), "devices": len(cell.devices), "measure": measure,
                              "value": float(value)})

    def metadata(self, start: date, end: date) -> dict:
        """What the file says about itself: parameters, periods and suppressed cells per reason."""
        return {"k": self.k, "m": self.m, "period": self.kind, "start": start.isoformat(), "end": end.isoformat(),
                "sites": "tenants (a tenant's sensors make one site)", "devices": DEVICES,
                "suppressed": {key: dict(sorted(reasons.items())) for key, reasons in sorted(self.suppressed.items())}}

    def all_rows(self) -> list[dict]:
        """The statistics, then the suppression counts and the parameters, in the same columns."""
        meta = [{"period": key.split("/")[0], "table": "suppressed", "group": key.split("/")[1], "label": reason,
                 "sites": 0, "devices": 0, "measure": "cells", "value": float(n)}
                for key, reasons in self.suppressed.items() for reason, n in sorted(reasons.items())]
        params = [{"period": "", "table": "export", "group": "", "label": name, "sites": 0, "devices": 0,
                   "measure": "value", "value": float(value)} for name, value in (("k", self.k), ("m", self.m))]
        return self.rows + meta + params


def statistics(ch: ClickHouseStore, db: Session, start: date, end: date, kind: str, k: int, m: int,
               now: datetime) -> Stats:
    """Every table of every ``kind`` period (month or week) holding a day from ``start`` to ``end``, of its
    whole days by ``now``. A period computed before is reused while what it reads is unchanged
    (core.stats.freshness)."""
    out = Stats(kind, k, m)
    shown = [p for p in (so_far(p, now) for p in periods(start, end, kind)) if p]
    marks = fingerprints(ch, db, shown, kind) if shown else {}
    for period in shown:
        if marks[period.name][0] is None:
            continue  # no batch in it: no site, nothing to publish
        key = (ch.dsn, kind, period.name, period.end, k, m, marks[period.name])  # end: a new day moves it
        with _lock:
            part = _cache.get(key)
        if part is None:
            part = Stats(kind, k, m)
            _period(ch, db, period, now, part)
            with _lock:
                _cache[key] = part
                while len(_cache) > CACHED_PERIODS:
                    _cache.popitem(last=False)
        out.rows += part.rows
        out.suppressed.update(part.suppressed)
    return out

_cache: OrderedDict[tuple, Stats] = OrderedDict()
_lock = threading.Lock()


def _period(ch: ClickHouseStore, db: Session, period: Period, now: datetime, out: Stats) -> None:
    who = fleet(ch, period)
    totals = Table("totals", lambda cell: {"sites": len(cell.tenants), "devices": len(cell.devices)})
    for tenant, assets in who.ledgers.items():
        totals.cell("", "all").tenants.add(tenant)
        for key in assets:
            totals.add("", "all", tenant, key)
    tables = [totals, *device_tables(ch, who), protocols(ch, period, list(who.ledgers)),
              ot_functions(ch, period, list(who.ledgers)), *alert_tables(ch, period, set(who.ledgers), who.devices),
              fleet_health(ch, db, period, now)]
    published_families: set[str] = set()
    for table in tables:
        if table.name == FIRMWARE:
            _firmware(period, table, published_families, out)
            continue
        outcome = suppress(table.cells.values(), out.k, out.m)
        _publish(period, table, outcome, out)
        if table.name == FAMILIES:
            published_families = {c.label for c in outcome.published}


def _publish(period: Period, table: Table, outcome, out: Stats) -> None:
    for cell in outcome.published + ([outcome.other] if outcome.other else []):
        out.emit(period, table, cell)
    if outcome.reasons:
        out.suppressed.setdefault(f"{period.name}/{table.name}", Counter()).update(outcome.reasons)


def _firmware(period: Period, table: Table, families: set[str], out: Stats) -> None:
    """Firmware per family, each family on its own; a family whose cell was not published shows
    none (its versions would add up to it)."""
    by_family: dict[str, list[Cell]] = {}
    for cell in table.cells.values():
        by_family.setdefault(cell.group, []).append(cell)
    for family, cells in sorted(by_family.items()):
        if family not in families:
            out.suppressed.setdefault(f"{period.name}/{table.name}", Counter())[FAMILY_SUPPRESSED] += len(cells)
            continue
        outcome = suppress(cells, out.k, out.m)
        if outcome.other:
            outcome.other.group = family
        _publish(period, table, outcome, out)
