"""What can change a tenant's results, counted per tenant and source in ``tenant_changes`` (migration
021): the views count every insert of the tables written outside a sensor's batch and each batch's
commit marker; ``changed`` counts what a mutation did. A tenant's counts are a version of everything
its results read (core.analytics.kept); merges leave them as they are.

A view's insert is not atomic with its table's: a process killed between them leaves rows its count
does not know (say detection's learning row, written beside a batch's inserts, or a commit marker
whose count was lost, which no resend counts again). So every start of a core process counts a change
of every tenant (``START``, part of every version): what a killed process wrote past its counts is
read again by every worker, as soon as it is back."""

from __future__ import annotations

from core.store.clickhouse import ClickHouseStore

EVERY_TENANT = 0  # counts that move every tenant's version
RETENTION = "retention"  # a retention pass (core.export.retention): raw rows re-dated, rollup TTLs applied
START = "start"  # a core process started: part of every version (see above)

_VERSION = """
    SELECT tenant_id, source, sum(changes) AS changes, max(last) AS last FROM tenant_changes
    WHERE tenant_id IN ({every:UInt32}, {tenant:UInt32}) {only}
    GROUP BY tenant_id, source ORDER BY tenant_id, source"""


def version(ch: ClickHouseStore, tenant_id: int, sources: tuple[str, ...] | None) -> tuple:
    """The tenant's (and every tenant's) counts of ``sources`` (None: all) and of process starts as a
    comparable value."""
    only = "AND source IN {sources:Array(String)}" if sources is not None else ""
    rows = ch.query(_VERSION.replace("{only}", only),
                    {"every": EVERY_TENANT, "tenant": tenant_id, "sources": [*(sources or ()), START]})
    return tuple((r["tenant_id"], r["source"], r["changes"], r["last"]) for r in rows)


def changed(ch: ClickHouseStore, tenant_id: int, source: str) -> None:
    """Count a change a mutation made (``EVERY_TENANT``: one that touched every tenant's rows)."""
    ch.command("INSERT INTO tenant_changes SELECT {t:UInt32}, {s:String}, 1, now64(6)",
               {"t": tenant_id, "s": source})


def count_start(ch: ClickHouseStore) -> None:
    """A core process starts: every tenant's results are read again (a killed process may have left
    rows its counts do not know)."""
    changed(ch, EVERY_TENANT, START)
