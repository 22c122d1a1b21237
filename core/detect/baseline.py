"""The baseline: what a tenant's sensors saw while learning, as keyed rows in ``detect_baseline``.

Kinds: ``device`` (a MAC, or a site IP), ``link`` (``orig>resp|service``), ``function``
(``orig>resp|protocol|action``) and ``attribute`` (``device|attribute|source``, value = the
current value). Detection asks about the keys a group of batches shows: answers come from a
per-process cache loaded once per tenant, and keys the cache lacks are looked up (another worker, or
an analyst's "learn", may have added them since) — one query for all the group's tenants; a key found
missing is not asked again for RELOAD_S seconds unless an analyst added to the baseline in this
process — so a group costs no query once its keys are known. What detection learns enters the cache
as it learns it, so its own writes need no new look-up. Before a batch's budget believes a flood,
its suspected news are asked of the store again whatever the cache says (``confirm``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from core.store.clickhouse import ClickHouseStore

KINDS = ("device", "link", "function", "attribute")
RELOAD_S = 30.0
additions = 0  # analysts' additions in this process: a key found missing may be there now


def add(ch: ClickHouseStore, tenant_id: int, entries: list[tuple[str, str, str]], ts: datetime) -> None:
    """Store (kind, key, value) entries as of data time ``ts`` (an analyst's "learn")."""
    global additions
    write(ch, rows(tenant_id, entries, ts))
    additions += 1


def rows(tenant_id: int, entries: list[tuple[str, str, str]], ts: datetime) -> list[dict]:
    return [{"tenant_id": tenant_id, "kind": k, "key": key, "value": v, "ts": ts} for k, key, v in entries]


def write(ch: ClickHouseStore, baseline_rows: list[dict]) -> None:
    """Store ``rows`` (of any tenants) in one insert."""
    if baseline_rows:
        ch.insert_rows("detect_baseline", baseline_rows)


class Baseline:
    """A cached view of ``detect_baseline`` for detection (one per process)."""

    def __init__(self, ch: ClickHouseStore):
        self.ch = ch
        self._known: dict[int, dict[tuple[str, str], str]] = {}
        self._missing: dict[int, tuple[float, int, set[tuple[str, str]]]] = {}
        self._guard = threading.Lock()

    def lookup(self, tenant_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The (kind, key) pairs of ``keys`` in the baseline, with their values."""
        self.prefetch({tenant_id: keys})
        with self._guard:
            known = self._known[tenant_id]
        return {k: known[k] for k in keys if k in known}

    def prefetch(self, wanted: dict[int, set[tuple[str, str]]]) -> None:
        """Make ``lookup`` of these tenants' (kind, key) pairs answer from the cache: one query loads
        the tenants not cached, one looks up the keys neither cached nor recently found missing."""
        self.load(set(wanted))
        missing = []
        with self._guard:
            for tenant_id, keys in wanted.items():
                known, absent = self._known[tenant_id], self._absent(tenant_id)
                missing += [(tenant_id, *k) for k in keys if k not in known and k not in absent]
        if missing:
            self._ask(missing)

    def confirm(self, tenant_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The baseline's values of these (kind, key) pairs of the tenant, asked of the store whatever
        the cache holds (another worker may have learned them): before a flood is believed. One query."""
        self._ask([(tenant_id, *k) for k in keys])
        with self._guard:
            known = self._known[tenant_id]
            return {k: known[k] for k in keys if k in known}

    def _ask(self, keys: list[tuple[int, str, str]]) -> None:
        """Look (tenant, kind, key) triples up in the store: those found enter the cache with their
        values (a value this process learned stays: its write may be pending), the others are noted
        missing."""
        rows = self.ch.query("SELECT tenant_id, kind, key, value FROM detect_baseline FINAL "
                             "WHERE (tenant_id, kind, key) IN {keys:Array(Tuple(UInt32, String, String))}",
                             {"keys": keys})
        with self._guard:
            for r in rows:
                self._known.setdefault(r["tenant_id"], {}).setdefault((r["kind"], r["key"]), r["value"])
            for tenant_id, kind, key in keys:
                if (kind, key) not in self._known[tenant_id]:
                    self._absent(tenant_id).add((kind, key))

    def load(self, tenant_ids: set[int]) -> None:
        """Cache the whole baseline of the tenants not cached: one query."""
        with self._guard:
            unloaded = sorted(t for t in tenant_ids if t not in self._known)
        if unloaded:
            loaded = self._read(unloaded)
            with self._guard:
                for tenant_id, known in loaded.items():
                    self._known.setdefault(tenant_id, known)

    def _read(self, tenant_ids: list[int]) -> dict[int, dict[tuple[str, str], str]]:
        read: dict[int, dict[tuple[str, str], str]] = {t: {} for t in tenant_ids}
        for r in self.ch.query("SELECT tenant_id, kind, key, value FROM detect_baseline FINAL "
                               "WHERE tenant_id IN {t:Array(UInt32)}", {"t": tenant_ids}):
            read[r["tenant_id"]][(r["kind"], r["key"])] = r["value"]
        return read

    def cached(self, tenant_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The (kind, key) pairs of ``keys`` the cache holds, with their values; the store is not asked
        about the others."""
        self.load({tenant_id})
        with self._guard:
            known = self._known[tenant_id]
            return {k: known[k] for k in keys if k in known}

    def _absent(self, tenant_id: int) -> set[tuple[str, str]]:
        """The tenant's keys found missing lately (under the guard): forgotten after RELOAD_S seconds
        or an analyst's addition."""
        since, generation, absent = self._missing.get(tenant_id, (0.0, -1, set()))
        if generation != additions or time.monotonic() - since > RELOAD_S:
            self._missing[tenant_id] = since, generation, absent = time.monotonic(), additions, set()
        return absent

    def learn(self, tenant_id: int, entries: list[tuple[str, str, str]], ts: datetime) -> list[dict]:
        """Know (kind, key, value) entries from now on in this process; the rows that store them
        (``write``), so a group of batches learns with one insert."""
        with self._guard:
            known = self._known.get(tenant_id)
            if known is not None:
                known.update(((k, key), v) for k, key, v in entries)
        return rows(tenant_id, entries, ts)

    def forget(self, tenant_id: int) -> None:
        """Drop the tenant's cache (what it learned could not be stored): loaded again when asked."""
        with self._guard:
            self._known.pop(tenant_id, None)
