"""One interval's events as the stages hand them over: wire.EVENTS dicts (the Python decoders and
the other stages) and wire.EVENTS tables (the compiled paths, ``sensor.meter.eventcols``), read
either as the one list of dicts they stand for (in order, by iterating: a merged section has no
index short of merging it) or as the batch's wire.EVENTS table.

The list is sections one after the other (the observer's, the app layer's, …); a section is parts,
each in time order, merged by time as a stable sort of their concatenation would order them (the
app layer's Python rows, then each compiled path's). ``table(fold=True)`` equals
``wire.table_from_rows("events", fold_events(list(self)))`` without a dict per compiled row: the
compiled paths fold their own rows, one per event of a flow, so only the dict rows are grouped; when a
compiled row's uid is also a dict row's (a group could then span both) the dicts are made after all.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from operator import itemgetter

import numpy as np
import pyarrow as pa

from sensor import wire
from sensor.meter.eventcols import as_dicts, ts_micros
from sensor.meter.fold import fold_events, fold_groups
from sensor.wire.compute import pc

Part = list[dict] | pa.Table
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)


def _micros(t: datetime) -> int:
    return (t - EPOCH) // US


class IntervalEvents:
    """Sized and iterable, not indexable; ``+`` with a list of dicts on either side gives another."""

    def __init__(self, sections: list[list[Part]]) -> None:
        self.sections = [[part for part in parts if len(part)] for parts in sections]

    @classmethod
    def merged(cls, parts: list[Part]) -> IntervalEvents:
        """One section: ``parts`` merged by time."""
        return cls([parts])

    @staticmethod
    def _sections(events: Iterable[dict]) -> list[list[Part]]:
        return events.sections if isinstance(events, IntervalEvents) else [[list(events)]]

    def __add__(self, other: Iterable[dict]) -> IntervalEvents:
        return IntervalEvents(self.sections + self._sections(other))

    def __radd__(self, other: Iterable[dict]) -> IntervalEvents:
        return IntervalEvents(self._sections(other) + self.sections)

    def __len__(self) -> int:
        return sum(len(part) for parts in self.sections for part in parts)

    def __iter__(self) -> Iterator[dict]:
        for parts in self.sections:
            rows = [part if isinstance(part, list) else as_dicts(part) for part in parts]
            yield from rows[0] if len(rows) == 1 else heapq.merge(*rows, key=itemgetter("ts"))

    # -- the batch's table ----------------------------------------------------------------

    def table(self, fold: bool) -> pa.Table:
        """The wire.EVENTS table of the list, its repeated events folded (``fold_events``) if ``fold``."""
        rows, tables, rows_at, tables_at = self._placed()
        if not tables:
            listed = [row for _, row in sorted(zip(rows_at, rows), key=itemgetter(0))]
            return wire.table_from_rows("events", fold_events(listed) if fold else listed)
        compiled = pa.concat_tables(tables)
        uids = pa.array(list({row["uid"] for row in rows}), pa.string())
        if fold and rows and pc.any(pc.is_in(compiled.column("uid"), value_set=uids)).as_py():
            return wire.table_from_rows("events", fold_events(list(self)))
        if fold:
            listed = sorted(zip(rows_at, rows), key=itemgetter(0))
            groups = fold_groups([row for _, row in listed])
            rows, first = [row for _, row in groups], [listed[i][0] for i, _ in groups]
        else:
            first = rows_at
        table = pa.concat_tables([wire.table_from_rows("events", rows), compiled])
        ts = ts_micros(table)
        at = np.concatenate([np.array(first, np.int64), np.concatenate(tables_at)])
        order = np.lexsort((at, ts)) if fold else np.argsort(at, kind="stable")
        if (order == np.arange(len(order))).all():  # in order already (one compiled part): not copied
            return table
        return table.take(pa.array(order))

    def _placed(self) -> tuple[list[dict], list[pa.Table], list[int], list[np.ndarray]]:
        """The dict rows and the tables, each row with its place in the list."""
        rows, tables, rows_at, tables_at = [], [], [], []
        start = 0
        for parts in self.sections:
            times = [ts_micros(part) if isinstance(part, pa.Table) else
                     np.array([_micros(row["ts"]) for row in part], np.int64) for part in parts]
            n = sum(map(len, times))
            place = np.arange(start, start + n)
            if len(parts) > 1:  # merged by time
                place[np.argsort(np.concatenate(times), kind="stable")] = place.copy()
            at = 0
            for part in parts:
                mine = place[at : at + len(part)]
                if isinstance(part, pa.Table):
                    tables.append(part)
                    tables_at.append(mine)
                else:
                    rows += part
                    rows_at += mine.tolist()
                at += len(part)
            start += n
        return rows, tables, rows_at, tables_at


def wire_events(events: Iterable[dict], fold: bool) -> pa.Table:
    """The batch's wire.EVENTS table of an interval's events, their repeats folded if ``fold``."""
    if isinstance(events, IntervalEvents):
        return events.table(fold)
    return wire.table_from_rows("events", fold_events(events) if fold else list(events))
