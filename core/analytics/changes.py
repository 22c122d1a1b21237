"""What changed between two periods (差分): the ledger of period A against the ledger of period B —
devices added and removed, attributes changed, communication pairs added and removed per service,
and functions (protocol actions) a pair newly used. Everything comes from the state tables of
migrations 010 and 018, each read once for both periods (``spans.each_period``): the two ledgers' sources
(core.analytics.ledger_reads) — the functions a pair newly used come with their actions — and the pairs,
in a query that returns only what changed; so comparing any two periods is six small queries.

Volatile fields are the ones that differ from one period to the next without anything having
changed: counters (bytes, packets, uses) and first/last-seen times. ``volatile=False`` leaves them
out (null), so two exports of the same change compare equal.
"""

from __future__ import annotations

from datetime import datetime

from core.analytics.assets import LEDGER_SOURCES
from core.analytics.kept import LEDGER_TOTAL, Kept
from core.analytics.ledger import Asset, ip_order
from core.analytics.ledger_reads import Reads, built, read, window_params
from core.analytics.roles import PORT_HINTS
from core.analytics.spans import each_period, pair_volume_rows, seen, state_rows
from core.export.csvsafe import csv_text
from core.store.clickhouse import ClickHouseStore

Period = tuple[datetime, datetime]
# Summary fields compared per device, in the order they are listed.
COMPARED = ("vendor", "model", "firmware", "hostname", "os", "serial", "role", "ips", "vlans")
LISTS = ("devices_added", "devices_removed", "attributes_changed", "pairs_added", "pairs_removed",
         "functions_added")
MAX_ROWS = 1000  # per list; "totals" says how many there were
VOLATILE_PAIR = ("first_seen", "last_seen", "bytes", "packets")
CSV_COLUMNS = ("change", "device", "ip", "peer_device", "peer_ip", "attribute", "old", "new", "service",
               "protocol", "action", "role", "vendor", "model", "first_seen", "last_seen", "bytes",
               "packets", "count")


# What changes are read from (core.analytics.kept: an answer is kept until the tenant's batches or notes change).
_KEPT: Kept[dict] = Kept(LEDGER_SOURCES, total=LEDGER_TOTAL)


def changes(ch: ClickHouseStore, tenant_id: int, a: Period, b: Period, volatile: bool = True) -> dict:
    """Period ``b`` against period ``a`` (each [start, end), UTC); kept until a table it is read from
    changes (the same dict for every caller meanwhile: read it, do not change it)."""
    return _KEPT.get(ch, tenant_id, (a, b, volatile), lambda: _changes(ch, tenant_id, a, b, volatile))


def _changes(ch: ClickHouseStore, tenant_id: int, a: Period, b: Period, volatile: bool) -> dict:
    reads = read(ch, tenant_id, [a, b], functions=True)
    before, after = built(reads, 0), built(reads, 1)
    owner = {ip: key for assets in (before, after) for key, asset in assets.items() for ip in asset.ips}
    pairs_added, pairs_removed = _pairs(ch, tenant_id, a, b, volatile)
    found = {
        "devices_added": _devices(after, after.keys() - before.keys(), volatile),
        "devices_removed": _devices(before, before.keys() - after.keys(), volatile),
        "attributes_changed": _attributes(before, after),
        "pairs_added": _linked(pairs_added, owner),
        "pairs_removed": _linked(pairs_removed, owner),
        "functions_added": _linked(_functions(reads, volatile), owner),
    }
    for name in ("pairs_added", "pairs_removed", "functions_added"):
        found[name].sort(key=lambda r: (ip_order(r["orig_h"]), ip_order(r["resp_h"]), r.get("service", ""),
                                        r.get("protocol", ""), r.get("action", "")))
    return {
        "a": {"start": a[0], "end": a[1]},
        "b": {"start": b[0], "end": b[1]},
        "volatile": volatile,
        "totals": {name: len(rows) for name, rows in found.items()},
        **{name: rows[:MAX_ROWS] for name, rows in found.items()},
    }


def _devices(assets: dict[str, Asset], keys, volatile: bool) -> list[dict]:
    rows = []
    for key in keys:
        a = assets[key]
        rows.append({"device": key, "ip": a.ip, "mac": a.mac, "role": a.role.value if a.role else "",
                     "vendor": a.best("vendor"), "model": a.best("model", "product"),
                     "hostname": a.best("hostname"),
                     "first_seen": a.first_seen if volatile else None,
                     "last_seen": a.last_seen if volatile else None})
    return sorted(rows, key=lambda r: (ip_order(r["ip"]), r["device"]))


def _shown(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")


def _attributes(before: dict[str, Asset], after: dict[str, Asset]) -> list[dict]:
    """Compared fields of the devices seen in both periods whose value differs, old → new."""
    rows = []
    for key in sorted(before.keys() & after.keys(), key=lambda k: (ip_order(after[k].ip), k)):
        old, new = before[key].summary(), after[key].summary()
        rows += [{"device": key, "ip": new["ip"], "attribute": name, "old": _shown(old[name]),
                  "new": _shown(new[name])} for name in COMPARED if _shown(old[name]) != _shown(new[name])]
    return rows


# The service a pair is listed under: the detected one, else the server port's usual one
# (core.analytics.roles.service_name over PORT_HINTS), else transport/port.
_HINTED = "if(service != '', service, transform(resp_p, {hint_ports:Array(UInt16)}, {hint_names:Array(String)}, ''))"
LABEL = f"if({_HINTED} != '', {_HINTED}, concat(proto, '/', toString(resp_p)))"
HINTS = {"hint_ports": list(PORT_HINTS), "hint_names": list(PORT_HINTS.values())}
# The first and last sighting of a group whose rows all come from one period, cut to that period.
PERIOD_SEEN = seen("{starts:Array(DateTime64(6, 'UTC'))}[min(period) + 1]",
                   "{ends:Array(DateTime64(6, 'UTC'))}[min(period) + 1]")


def _periods(tenant_id: int, a: Period, b: Period, table: str, columns: str, where: str = "1") -> tuple[str, dict]:
    """``table``'s state rows of both periods in one subquery (``period`` 0 for A, 1 for B) and its parameters."""
    windows = [window_params(tenant_id, *period) for period in (a, b)]
    return each_period([(state_rows(table, columns, w, where), w) for w in windows])


def _pairs(ch: ClickHouseStore, tenant_id: int, a: Period, b: Period, volatile: bool) -> tuple[list, list]:
    """(added, removed): who talked to whom over what in one period and not the other, by (client,
    server, transport, service LABEL). Both periods in one query that returns the changed pairs only
    (labelled once per key and period, not per row)."""
    rows, params = _periods(tenant_id, a, b, "pair_seen",
                            "orig_h, resp_h, proto, service, resp_p, first_seen, last_seen")
    changed = ch.query(
        f"""
        SELECT orig_h, resp_h, proto, {LABEL} AS label, min(period) AS only_in,
               groupUniqArray((service, resp_p)) AS keys, {PERIOD_SEEN}
        FROM (SELECT period, orig_h, resp_h, proto, service, resp_p, min(first_seen) AS first_seen,
                     max(last_seen) AS last_seen
              FROM {rows} GROUP BY period, orig_h, resp_h, proto, service, resp_p)
        GROUP BY orig_h, resp_h, proto, label HAVING min(period) = max(period)
        """,
        params | HINTS,
    )
    volume = _volume(ch, tenant_id, (a, b), changed) if volatile and changed else {}
    found: tuple[list, list] = ([], [])
    for r in changed:
        counted = [volume.get((r["only_in"], r["orig_h"], r["resp_h"], r["proto"], *key), (0, 0))
                   for key in r["keys"]]
        found[1 - r["only_in"]].append({
            "orig_h": r["orig_h"], "resp_h": r["resp_h"], "proto": r["proto"], "service": r["label"],
            **({"first_seen": r["first_seen"], "last_seen": r["last_seen"], "bytes": sum(c[0] for c in counted),
                "packets": sum(c[1] for c in counted)} if volatile else dict.fromkeys(VOLATILE_PAIR))})
    return found


def _volume(ch: ClickHouseStore, tenant_id: int, periods: tuple[Period, Period],
            changed: list[dict]) -> dict[tuple, tuple[int, int]]:
    """Bytes and packets per pair key over the hours a period touches (the hourly rollup's grain), by
    (period, orig_h, resp_h, proto, service, resp_p), of the periods with changed pairs. (Every key:
    naming the changed ones costs more than it saves.)"""
    wanted = {r["only_in"] for r in changed}
    rows, params = each_period([(pair_volume_rows("orig_h, resp_h, proto, service, resp_p, bytes, packets",
                                                  where="1" if index in wanted else "0"),
                                 window_params(tenant_id, *period)) for index, period in enumerate(periods)])
    found = ch.query(
        f"""
        SELECT period, orig_h, resp_h, proto, service, resp_p, sum(bytes) AS bytes, sum(packets) AS packets
        FROM {rows} GROUP BY period, orig_h, resp_h, proto, service, resp_p
        """,
        params,
    )
    return {(r["period"], r["orig_h"], r["resp_h"], r["proto"], r["service"], r["resp_p"]): (r["bytes"], r["packets"])
            for r in found}


def _functions(reads: Reads, volatile: bool) -> list[dict]:
    """Actions a pair used per protocol in period B and not in period A (read with the ledgers' actions),
    with their uses and first and last sighting in B."""
    if not volatile:
        return [r | dict.fromkeys(("count", "first_seen", "last_seen")) for r in reads.functions_added]
    return [r | dict(zip(("first_seen", "last_seen"), _cut(reads.windows[1], r["first_seen"], r["last_seen"])))
            for r in reads.functions_added]


def _cut(window: dict, first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """A first and last sighting cut to a window (as ``spans.seen`` does in SQL)."""
    return min(max(first, window["start"]), window["end"]), max(min(last, window["end"]), window["start"])


def _linked(rows: list[dict], owner: dict[str, str]) -> list[dict]:
    """Rows with the ledger's device keys of both ends (empty for a host that is no device)."""
    return [r | {"orig_device": owner.get(r["orig_h"], ""), "resp_device": owner.get(r["resp_h"], "")}
            for r in rows]


def changes_csv(found: dict) -> str:
    """One row per change, the kind of change first; UTC times, formulas neutralised."""

    def rows():
        for name in LISTS:
            for r in found[name]:
                row = {c: r.get(c) for c in CSV_COLUMNS} | {
                    "change": name, "device": r.get("device") or r.get("orig_device", ""),
                    "ip": r.get("ip") or r.get("orig_h", ""), "peer_device": r.get("resp_device", ""),
                    "peer_ip": r.get("resp_h", ""), "protocol": r.get("protocol") or r.get("proto", "")}
                yield {c: "" if v is None else v.isoformat() if isinstance(v, datetime) else v
                       for c, v in row.items()}

    return csv_text(CSV_COLUMNS, rows())
