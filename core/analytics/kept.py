"""Results computed from the store, kept in the process until the tables they were read from change.

A MergeTree table's rows are its active parts, and parts never change: an insert adds one, a merge,
mutation, TTL pass or dropped partition replaces some with new ones under new names. The active parts
of a result's tables (with each part's rows, size and time, and each table's UUID where the database
gives one, so that a table made again is not taken for the old one) are therefore a version of what it
was computed from: ``Kept`` answers with the kept result while they are the same parts, and computes it
again as soon as any of them changed — whichever tenant's data did. On a cluster this server's ``system.parts`` does not
see the other shards' parts: nothing is kept there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

from core.store.clickhouse import ClickHouseStore

T = TypeVar("T")

_VERSION = """
    SELECT (SELECT groupArraySorted(1000)((name, uuid)) FROM system.tables
            WHERE database = currentDatabase() AND name IN {tables:Array(String)}) AS tables,
           (SELECT groupArraySorted(100000)((table, name, rows, bytes_on_disk, modification_time)) FROM system.parts
            WHERE database = currentDatabase() AND active AND table IN {tables:Array(String)}) AS parts"""


def parts_version(ch: ClickHouseStore, tables: tuple[str, ...]) -> tuple | None:
    """The active parts of ``tables`` as a comparable value; None on a cluster (not knowable here)."""
    if ch.cluster:
        return None
    row = ch.query(_VERSION, {"tables": list(tables)})[0]
    return tuple(map(tuple, row["tables"])), tuple(map(tuple, row["parts"]))


class Same:
    """A part of a key that matches the very same object only (and keeps it alive while the key is
    kept, so that no other object gets its id meanwhile): a result computed from another result."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value


class Kept(Generic[T]):
    """Up to ``size`` results by key, each with the version of ``tables`` it was computed from."""

    def __init__(self, tables: tuple[str, ...], size: int = 8):
        self.tables = tables
        self.size = size
        self._results: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = Lock()  # pages are served from a thread pool

    def get(self, ch: ClickHouseStore, key: Hashable, compute: Callable[[], T]) -> T:
        """The result for ``key``: the kept one when the tables have not changed since, else ``compute()``'s.
        Callers must not change what they get: the next caller gets the same objects."""
        version = parts_version(ch, self.tables)
        if version is None:
            return compute()
        full = (ch.dsn, key, version)
        with self._lock:
            if full in self._results:
                self._results.move_to_end(full)
                return self._results[full]
        result = compute()
        with self._lock:
            self._results[full] = result
            while len(self._results) > self.size:
                self._results.popitem(last=False)
        return result
