"""The baseline: what a tenant's sensors saw while learning, as keyed rows in ``detect_baseline``.

Kinds: ``device`` (a MAC, or a site IP), ``link`` (``orig>resp|service``), ``function``
(``orig>resp|protocol|action``) and ``attribute`` (``device|attribute|source``, value = the
current value). Detection asks about the keys of one batch: answers come from a per-process cache
loaded once per tenant, and keys the cache lacks are looked up (another worker, or an analyst's
"learn", may have added them since) — a key found missing is not asked again for RELOAD_S seconds
unless this process added to the baseline — so a batch costs no query once its keys are known.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from core.store.clickhouse import ClickHouseStore

KINDS = ("device", "link", "function", "attribute")
RELOAD_S = 30.0
additions = 0  # baseline writes of this process: a key found missing may be there now


def add(ch: ClickHouseStore, tenant_id: int, entries: list[tuple[str, str, str]], ts: datetime) -> None:
    """Store (kind, key, value) entries as of data time ``ts``."""
    write(ch, rows(tenant_id, entries, ts))


def rows(tenant_id: int, entries: list[tuple[str, str, str]], ts: datetime) -> list[dict]:
    return [{"tenant_id": tenant_id, "kind": k, "key": key, "value": v, "ts": ts} for k, key, v in entries]


def write(ch: ClickHouseStore, baseline_rows: list[dict]) -> None:
    """Store ``rows`` (of any tenants) in one insert."""
    global additions
    if baseline_rows:
        additions += 1
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
        with self._guard:
            known = self._known.get(tenant_id)
        if known is None:
            known = {(r["kind"], r["key"]): r["value"] for r in self.ch.query(
                "SELECT kind, key, value FROM detect_baseline FINAL WHERE tenant_id = {t:UInt32}",
                {"t": tenant_id})}
            with self._guard:
                self._known[tenant_id] = known
        since, generation, absent = self._missing.get(tenant_id, (0.0, -1, set()))
        if generation != additions or time.monotonic() - since > RELOAD_S:
            since, generation, absent = time.monotonic(), additions, set()
        missing = [k for k in keys if k not in known and k not in absent]
        if missing:
            for r in self.ch.query(
                    "SELECT kind, key, value FROM detect_baseline FINAL WHERE tenant_id = {t:UInt32} "
                    "AND (kind, key) IN {keys:Array(Tuple(String, String))}",
                    {"t": tenant_id, "keys": missing}):
                known[(r["kind"], r["key"])] = r["value"]
            absent.update(k for k in missing if k not in known)
        with self._guard:
            self._missing[tenant_id] = (since, generation, absent)
        return {k: known[k] for k in keys if k in known}

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
