"""Alerts as records: the queries the API and the dashboard call (list, one alert with its
evidence, counts, timeline, CSV) and the writes (status, assignee, comment, learn).

An alert is a row of ``alerts`` (ReplacingMergeTree by ``version``, read with FINAL); a change
writes the whole row again with a higher version, a comment is a row of ``alert_comments``. Every
change an analyst makes is audited in the control plane and handed to forwarding (``notify``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.detect import baseline, notify
from core.detect.kinds import KINDS, SEVERITIES, STATUSES
from core.export.csvsafe import csv_text
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import audit

SORTABLE = ("ts", "ts_last", "severity", "count", "kind", "status")
MAX_PAGE = 1000
CSV_COLUMNS = ("id", "sensor_id", "ts", "ts_last", "count", "kind", "severity", "title_en", "title_ja",
               "src_ip", "src_mac", "src_device", "dst_ip", "dst_mac", "dst_device", "protocol",
               "technique", "status", "assignee", "details")
# learn: what a kind's alert adds to the baseline
LEARNABLE = {"new_device": "device", "new_link": "link", "new_ot_function": "function"}
EVIDENCE_ROWS = 100

# Alert changes analysts made in this process: detection's open-alert cache reloads when it moves.
analyst_writes = 0

_SEVERITY_RANK = "indexOf(['" + "','".join(SEVERITIES) + "'], severity)"  # 1 = most severe


def next_version(previous: int = 0) -> int:
    """A version above ``previous`` and every earlier write of this process."""
    return max(time.time_ns(), previous + 1)


def write(ch: ClickHouseStore, rows: list[dict]) -> None:
    """Store alert rows (each a whole record, as ``row_columns`` names them)."""
    ch.insert_rows("alerts", [{**r, "details": json.dumps(r["details"], ensure_ascii=False)
                               if isinstance(r["details"], dict) else r["details"]} for r in rows])


def _where(tenant_id: int, start: datetime | None, end: datetime | None, status: list[str],
           severity: list[str], kind: list[str], device: str) -> tuple[str, dict]:
    clauses = ["tenant_id = {tenant:UInt32}"]
    params: dict[str, Any] = {"tenant": tenant_id}
    if start is not None:
        clauses.append("ts_last >= {start:DateTime64(6)}")
        params["start"] = start
    if end is not None:
        clauses.append("ts < {end:DateTime64(6)}")
        params["end"] = end
    for name, values in (("status", status), ("severity", severity), ("kind", kind)):
        if values:
            clauses.append(f"{name} IN {{{name}:Array(String)}}")
            params[name] = list(values)
    if device:
        clauses.append("{device:String} IN (src_ip, src_mac, src_device, dst_ip, dst_mac, dst_device)")
        params["device"] = device
    return " AND ".join(clauses), params


def list_alerts(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
                end: datetime | None = None, status: list[str] = (), severity: list[str] = (),
                kind: list[str] = (), device: str = "", sort: str = "ts", descending: bool = True,
                limit: int = 100, offset: int = 0) -> list[dict]:
    """A page of the tenant's alerts overlapping [start, end), filtered and sorted."""
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}")
    where, params = _where(tenant_id, start, end, status, severity, kind, device)
    # severity sorts by rank, so "descending" puts critical first
    column = _SEVERITY_RANK if sort == "severity" else sort
    direction = ("ASC" if descending else "DESC") if sort == "severity" else ("DESC" if descending else "ASC")
    rows = ch.query(
        f"SELECT * FROM alerts FINAL WHERE {where} ORDER BY {column} {direction}, id "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        params | {"limit": min(max(limit, 0), MAX_PAGE), "offset": max(offset, 0)})
    comments = _comments(ch, tenant_id, [r["id"] for r in rows])
    return [public(r, comments.get(r["id"], [])) for r in rows]


def count_alerts(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
                 end: datetime | None = None, status: list[str] = (), severity: list[str] = (),
                 kind: list[str] = (), device: str = "") -> int:
    where, params = _where(tenant_id, start, end, status, severity, kind, device)
    return ch.query(f"SELECT count() AS n FROM alerts FINAL WHERE {where}", params)[0]["n"]


def counts_by_severity(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
                       end: datetime | None = None, status: list[str] = ()) -> dict[str, int]:
    """Alerts per severity (every severity present, most severe first)."""
    where, params = _where(tenant_id, start, end, status, [], [], "")
    found = {r["severity"]: r["n"] for r in ch.query(
        f"SELECT severity, count() AS n FROM alerts FINAL WHERE {where} GROUP BY severity", params)}
    return {s: found.get(s, 0) for s in SEVERITIES}


def counts_by_kind(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
                   end: datetime | None = None) -> list[dict]:
    """Alerts per kind (rows of kind, n and the most severe of their severities), most severe
    kind first, then the most alerts."""
    where, params = _where(tenant_id, start, end, [], [], [], "")
    return ch.query(f"SELECT kind, {list(SEVERITIES)}[min(rank)] AS severity, count() AS n FROM "
                    f"(SELECT kind, {_SEVERITY_RANK} AS rank FROM alerts FINAL WHERE {where}) "
                    "GROUP BY kind ORDER BY min(rank), n DESC, kind", params)


def timeline(ch: ClickHouseStore, tenant_id: int, start: datetime, end: datetime,
             bucket_s: int = 3600, status: list[str] = ()) -> list[dict]:
    """Alerts by first time: rows of bucket (start of the bucket), severity and n, in time order."""
    where, params = _where(tenant_id, start, end, status, [], [], "")
    return ch.query(
        "SELECT toStartOfInterval(ts, toIntervalSecond({bucket:UInt32})) AS bucket, severity, "
        f"count() AS n FROM alerts FINAL WHERE {where} AND ts >= {{start:DateTime64(6)}} "
        "GROUP BY bucket, severity ORDER BY bucket, severity",
        params | {"bucket": max(bucket_s, 1)})


def get_alert(ch: ClickHouseStore, tenant_id: int, alert_id: str, evidence: bool = True) -> dict | None:
    """One alert with its comments and, with ``evidence``, the flows and events its uids name."""
    row = _row(ch, tenant_id, alert_id)
    if row is None:
        return None
    alert = public(row, _comments(ch, tenant_id, [alert_id]).get(alert_id, []))
    if evidence:
        alert["evidence_flows"], alert["evidence_events"] = _evidence(ch, row)
    return alert


def update_alert(ch: ClickHouseStore, db: Session, tenant_id: int, alert_id: str, actor: str,
                 status: str | None = None, assignee: str | None = None,
                 comment: str | None = None) -> dict | None:
    """Change status and/or assignee and/or add a comment; audited; None if there is no such alert."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    row = _row(ch, tenant_id, alert_id)
    if row is None:
        return None
    changes = {k: v for k, v in (("status", status), ("assignee", assignee)) if v is not None and v != row[k]}
    if changes:
        global analyst_writes
        write(ch, [row | changes | {"version": next_version(row["version"])}])
        analyst_writes += 1
    if comment:
        ch.insert_rows("alert_comments", [{"tenant_id": tenant_id, "alert_id": alert_id,
                                           "ts": datetime.now().astimezone(), "author": actor,
                                           "text": comment}])
    if changes or comment:
        said = {**changes, **({"comment": comment} if comment else {})}
        audit(db, actor, "alert.update", tenant_id, f"{alert_id}: {json.dumps(said, ensure_ascii=False)}"[:2000])
    alert = get_alert(ch, tenant_id, alert_id, evidence=False)
    if "status" in changes:
        notify.send(db, tenant_id, alert)
    return alert


def learn(ch: ClickHouseStore, db: Session, tenant_id: int, alert_id: str, actor: str) -> dict | None:
    """Make what the alert names normal: its device, link or function joins the baseline and the
    alert is resolved. None if there is no such alert; ValueError if its kind names nothing to learn."""
    row = _row(ch, tenant_id, alert_id)
    if row is None:
        return None
    what = LEARNABLE.get(row["kind"])
    if what is None:
        raise ValueError(f"a {row['kind']} alert names nothing to learn")
    baseline.add(ch, tenant_id, [(what, row["key"], "")], row["ts_last"])
    audit(db, actor, "alert.learn", tenant_id, f"{alert_id}: {what} {row['key']}"[:2000])
    return update_alert(ch, db, tenant_id, alert_id, actor, status="resolved")


def alerts_csv(alerts: list[dict]) -> str:
    return csv_text(CSV_COLUMNS, ({c: _csv_value(a, c) for c in CSV_COLUMNS} for a in alerts))


def _csv_value(alert: dict, column: str) -> object:
    side, _, field = column.partition("_")
    if side in ("src", "dst") and field in ("ip", "mac", "device"):
        return alert[side][field]
    if column == "details":
        return json.dumps(alert["details"], ensure_ascii=False)
    return alert[column]


def public(row: dict, comments: list[dict]) -> dict:
    """A stored row as the API shows it (src and dst as objects, details decoded)."""
    kind = KINDS.get(row["kind"])
    return {
        "id": row["id"], "sensor_id": row["sensor_id"], "ts": row["ts"], "ts_last": row["ts_last"],
        "count": row["count"], "kind": row["kind"], "severity": row["severity"],
        "title_ja": row["title_ja"], "title_en": row["title_en"],
        "src": {"ip": row["src_ip"], "mac": row["src_mac"], "device": row["src_device"]},
        "dst": {"ip": row["dst_ip"], "mac": row["dst_mac"], "device": row["dst_device"]},
        "protocol": row["protocol"], "details": row["details"] if isinstance(row["details"], dict) else json.loads(row["details"] or "{}"),
        "technique": row["technique"], "technique_name": kind.technique_name if kind else "",
        "evidence": list(row["evidence"]), "status": row["status"], "assignee": row["assignee"],
        "comments": comments,
    }


def _row(ch: ClickHouseStore, tenant_id: int, alert_id: str) -> dict | None:
    found = ch.query("SELECT * FROM alerts FINAL WHERE tenant_id = {t:UInt32} AND id = {id:String}",
                     {"t": tenant_id, "id": alert_id})
    return found[0] if found else None


def _comments(ch: ClickHouseStore, tenant_id: int, ids: list[str]) -> dict[str, list[dict]]:
    if not ids:
        return {}
    out: dict[str, list[dict]] = {}
    for r in ch.query("SELECT alert_id, ts, author, text FROM alert_comments WHERE tenant_id = {t:UInt32} "
                      "AND alert_id IN {ids:Array(String)} ORDER BY ts",
                      {"t": tenant_id, "ids": ids}):
        out.setdefault(r.pop("alert_id"), []).append(r)
    return out


def _evidence(ch: ClickHouseStore, row: dict) -> tuple[list[dict], list[dict]]:
    """The evidence flows and events (by uid) of the alert's sensor while the alert lasted, the
    first rows of each; a new OT function's events only of that function."""
    if not row["evidence"]:
        return [], []
    params = {"t": row["tenant_id"], "s": row["sensor_id"], "uids": list(row["evidence"]),
              "n": EVIDENCE_ROWS, "from": row["ts"], "to": row["ts_last"]}
    key = ("tenant_id = {t:UInt32} AND sensor_id = {s:UInt32} AND uid IN {uids:Array(String)} "
           "AND ts <= {to:DateTime64(6)} AND ts_end >= {from:DateTime64(6)}")
    action = json.loads(row["details"] or "{}").get("function") if row["kind"] == "new_ot_function" else None
    flows = ch.query(
        "SELECT ts, ts_end, uid, orig_h, orig_p, resp_h, resp_p, proto, service, orig_bytes, resp_bytes, "
        f"orig_pkts, resp_pkts, conn_state, orig_l2_addr, resp_l2_addr FROM flows WHERE {key} AND sign > 0 "
        "ORDER BY ts, uid LIMIT {n:UInt32}", params)
    events = ch.query(
        "SELECT ts, ts_end, count, uid, orig_h, resp_h, resp_p, protocol, action, status, attrs "
        f"FROM events WHERE {key} {'AND action = {action:String}' if action else ''} "
        "ORDER BY ts, uid LIMIT {n:UInt32}", params | {"action": action or ""})
    return flows, events
