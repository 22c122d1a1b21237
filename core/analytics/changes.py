"""What changed between two periods (差分): the ledger of period A against the ledger of period B —
devices added and removed, attributes changed, communication pairs added and removed per service,
and functions (protocol actions) a pair newly used. Everything comes from the windowed ledger and
the state tables of migrations 010 and 018, so comparing any two periods is a few small queries.

Volatile fields are the ones that differ from one period to the next without anything having
changed: counters (bytes, packets, uses) and first/last-seen times. ``volatile=False`` leaves them
out (null), so two exports of the same change compare equal.
"""

from __future__ import annotations

from datetime import datetime

from core.analytics.assets import ledger, window_params
from core.analytics.ledger import Asset, ip_order
from core.analytics.roles import service_name
from core.analytics.spans import SEEN, pair_volume_rows, state_rows
from core.export.csvsafe import csv_text
from core.store.clickhouse import ClickHouseStore

Period = tuple[datetime, datetime]
# Summary fields compared per device, in the order they are listed.
COMPARED = ("vendor", "model", "firmware", "hostname", "os", "serial", "role", "ips", "vlans")
LISTS = ("devices_added", "devices_removed", "attributes_changed", "pairs_added", "pairs_removed",
         "functions_added")
MAX_ROWS = 1000  # per list; "totals" says how many there were
CSV_COLUMNS = ("change", "device", "ip", "peer_device", "peer_ip", "attribute", "old", "new", "service",
               "protocol", "action", "role", "vendor", "model", "first_seen", "last_seen", "bytes",
               "packets", "count")


def changes(ch: ClickHouseStore, tenant_id: int, a: Period, b: Period, volatile: bool = True) -> dict:
    """Period ``b`` against period ``a`` (each [start, end), UTC)."""
    before = ledger(ch, tenant_id, start=a[0], end=a[1])
    after = ledger(ch, tenant_id, start=b[0], end=b[1])
    owner = {ip: key for assets in (before, after) for key, asset in assets.items() for ip in asset.ips}
    pairs_a, pairs_b = _pairs(ch, tenant_id, a, volatile), _pairs(ch, tenant_id, b, volatile)
    functions_a, functions_b = _functions(ch, tenant_id, a, volatile), _functions(ch, tenant_id, b, volatile)
    found = {
        "devices_added": _devices(after, after.keys() - before.keys(), volatile),
        "devices_removed": _devices(before, before.keys() - after.keys(), volatile),
        "attributes_changed": _attributes(before, after),
        "pairs_added": _linked([pairs_b[k] for k in pairs_b.keys() - pairs_a.keys()], owner),
        "pairs_removed": _linked([pairs_a[k] for k in pairs_a.keys() - pairs_b.keys()], owner),
        "functions_added": _linked([functions_b[k] for k in functions_b.keys() - functions_a.keys()], owner),
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


def _pairs(ch: ClickHouseStore, tenant_id: int, period: Period, volatile: bool) -> dict[tuple, dict]:
    """Who talked to whom over what in the period, by (client, server, transport, service): the
    detected service, else the server port's usual one, else the port."""
    params = window_params(tenant_id, *period)
    rows = ch.query(
        f"""
        SELECT orig_h, resp_h, proto, service, resp_p, {SEEN}
        FROM {state_rows("pair_seen", "orig_h, resp_h, proto, service, resp_p, first_seen, last_seen", params)}
        GROUP BY orig_h, resp_h, proto, service, resp_p
        """,
        params,
    )
    volume = _volume(ch, params) if volatile else {}
    pairs: dict[tuple, dict] = {}
    for r in rows:
        label = service_name(r["service"], r["resp_p"])[0] or f"{r['proto']}/{r['resp_p']}"
        found = pairs.setdefault((r["orig_h"], r["resp_h"], r["proto"], label), {
            "orig_h": r["orig_h"], "resp_h": r["resp_h"], "proto": r["proto"], "service": label,
            "first_seen": None, "last_seen": None, "bytes": None, "packets": None})
        if volatile:
            bytes_, packets = volume.get((r["orig_h"], r["resp_h"], r["proto"], r["service"], r["resp_p"]), (0, 0))
            found["first_seen"] = min(found["first_seen"] or r["first_seen"], r["first_seen"])
            found["last_seen"] = max(found["last_seen"] or r["last_seen"], r["last_seen"])
            found["bytes"] = (found["bytes"] or 0) + bytes_
            found["packets"] = (found["packets"] or 0) + packets
    return pairs


def _volume(ch: ClickHouseStore, params: dict) -> dict[tuple, tuple[int, int]]:
    """Bytes and packets per pair over the hours the period touches (the hourly rollup's grain)."""
    rows = ch.query(
        f"""
        SELECT orig_h, resp_h, proto, service, resp_p, sum(bytes) AS bytes, sum(packets) AS packets
        FROM {pair_volume_rows("orig_h, resp_h, proto, service, resp_p, bytes, packets")}
        GROUP BY orig_h, resp_h, proto, service, resp_p
        """,
        params,
    )
    return {(r["orig_h"], r["resp_h"], r["proto"], r["service"], r["resp_p"]): (r["bytes"], r["packets"])
            for r in rows}


def _functions(ch: ClickHouseStore, tenant_id: int, period: Period, volatile: bool) -> dict[tuple, dict]:
    """Actions used per pair and protocol in the period."""
    params = window_params(tenant_id, *period)
    rows = ch.query(
        f"""
        SELECT orig_h, resp_h, protocol, action, sum(count) AS count, {SEEN}
        FROM {state_rows("event_actions", "orig_h, resp_h, protocol, action, count, first_seen, last_seen",
                         params, where="action != ''")}
        GROUP BY orig_h, resp_h, protocol, action
        """,
        params,
    )
    return {(r["orig_h"], r["resp_h"], r["protocol"], r["action"]): {
        "orig_h": r["orig_h"], "resp_h": r["resp_h"], "protocol": r["protocol"], "action": r["action"],
        **{k: r[k] if volatile else None for k in ("count", "first_seen", "last_seen")}} for r in rows}


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
