"""Results computed from the store, kept in the process until what they were read from changes for
their tenant.

Every writer of what a tenant's results read is counted per tenant (core.store.tenant_changes,
migration 021): a sensor's batch once its commit marker is written (its rows and the rollups they feed
are in before it), an ingest attempt whose rows were taken out, each table written outside batches
(notes, alerts and their states, comments, indicators, baselines, risk snapshots) by a view, advisory
imports for every tenant, and the mutations (a retention pass counts itself; a deletion takes the
tenant's counts with its rows). A result's version is its tenant's counts (and tenant 0's) of the
sources it reads: another tenant's batch leaves it alone, a merge adds nothing, and on a cluster the
counts are read through the Distributed table like any data. Every start of a core process moves every
version: a process killed between a table's insert and its view's leaves rows no count knows.

Rows a TTL merge expires in the background (older than the retention) leave the counts as they are:
a result that still holds them is computed again at its tenant's next change.

Each tenant keeps its own few results, so that tenants browsing at once do not push each other's out; a
bound on them all (a provider has hundreds of tenants) lets the least recently read tenant's go first.
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
# Results in all for caches of whole ledgers or risk scores, ~5 and ~19 KiB a device (the 22-device
# plant's: 118 and 411 KiB): 128 of 550-device tenants are ~0.4 and ~1.3 GB; the default 1,024, eight times.
LEDGER_TOTAL = 128
# Results a tenant for caches keyed by a ledger (``Same``): each key keeps its ledger alive, and a
# recomputed ledger is a new key, so the old ones are never read again but would stay until pushed out.
PINNING = 3


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
    """Each tenant's results by key, up to ``size`` a tenant and ``total`` in all (the least recently
    read go first), each with the version of the ``sources`` (None: every source) it was computed from."""

    def __init__(self, sources: tuple[str, ...] | None, size: int = 8, total: int = 1024):
        self.sources = sources
        self.size, self.total = size, total
        # by (store, tenant), least recently read first: by key, least recently read first: (version, result)
        self._tenants: OrderedDict[tuple[str, int], OrderedDict[Hashable, tuple[tuple, T]]] = OrderedDict()
        self._count = 0
        self._lock = Lock()  # pages are served from a thread pool

    def __len__(self) -> int:
        return self._count

    def get(self, ch: ClickHouseStore, tenant_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """The tenant's result for ``key``: the kept one while its sources have not changed since (read
        before computing: a change made meanwhile moves the version after it), else ``compute()``'s.
        Callers must not change what they get: the next caller gets the same objects."""
        tenant, now = (ch.dsn, tenant_id), version(ch, tenant_id, self.sources)
        with self._lock:
            results = self._tenants.get(tenant)
            if results is not None and key in results and results[key][0] == now:
                self._tenants.move_to_end(tenant)
                results.move_to_end(key)
                return results[key][1]
        result = compute()
        with self._lock:
            self._keep(tenant, key, now, result)
        return result

    def _keep(self, tenant: tuple[str, int], key: Hashable, now: tuple, result: T) -> None:
        results = self._tenants.setdefault(tenant, OrderedDict())
        self._tenants.move_to_end(tenant)
        self._count += key not in results
        results[key] = (now, result)  # an older version of the key's result is never read again
        results.move_to_end(key)
        if len(results) > self.size:
            results.popitem(last=False)
            self._count -= 1
        while self._count > self.total:
            oldest = next(iter(self._tenants.values()))
            oldest.popitem(last=False)
            self._count -= 1
            if not oldest:
                self._tenants.popitem(last=False)
