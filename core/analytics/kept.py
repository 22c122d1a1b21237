"""Results computed from the store, kept in the process until what they were read from changes for
their tenant.

Every writer of what a tenant's results read is counted per tenant (core.store.tenant_changes,
migration 021): a sensor's batch once its commit marker is written (its rows and the rollups they feed
are in before it), an ingest attempt whose rows were taken out, each table written outside batches
(notes, alerts and their states, comments, indicators, baselines, risk snapshots) by a view, advisory
imports for every tenant, and the mutations (a retention pass counts itself; a deletion takes the
tenant's counts with its rows). A result's version is its tenant's counts (and tenant 0's) of the
sources it reads: another tenant's batch leaves it alone, a merge adds nothing, and on a cluster the
counts are read through the Distributed table like any data.

Rows a TTL merge expires in the background (older than the retention) leave the counts as they are:
a result that still holds them is computed again at its tenant's next change.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

from core.store.clickhouse import ClickHouseStore
from core.store.tenant_changes import RETENTION, version

T = TypeVar("T")

# What a batch writes: its rows and rollups (counted with the marker), an attempt taken out, retention.
INGEST = ("batches", "ingest_intents.removed", RETENTION)


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
    """Up to ``size`` results by tenant and key, each with the version of the ``sources`` (None: every
    source) it was computed from."""

    def __init__(self, sources: tuple[str, ...] | None, size: int = 8):
        self.sources = sources
        self.size = size
        self._results: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = Lock()  # pages are served from a thread pool

    def get(self, ch: ClickHouseStore, tenant_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """The tenant's result for ``key``: the kept one while its sources have not changed since (read
        before computing: a change made meanwhile moves the version after it), else ``compute()``'s.
        Callers must not change what they get: the next caller gets the same objects."""
        full = (ch.dsn, tenant_id, key, version(ch, tenant_id, self.sources))
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
