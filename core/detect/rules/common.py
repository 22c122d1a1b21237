"""What every rule family needs from one batch: its events and flows as plain rows (times in µs
since the epoch, an event's attrs as a dict), each flow's MACs, and findings folded by key.

A rule looks at one batch only and keeps no state; what repeats across batches the engine folds.
The engine runs every rule on one batch inside ``shared(batch)``: there each conversion is made once
for all the rules that ask for it, so the rows are shared — a rule reads them and never changes them.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc

from core.detect.kinds import Finding
from core.detect.site import Site
from sensor.wire import Batch

__all__ = ("Findings", "Site", "accepted", "events", "flows", "macs", "places", "services")

MAX_EVIDENCE = 20  # uids kept per finding: enough to show what happened, bounded for the store


def table_rows(table: pa.Table, names: tuple[str, ...]) -> list[dict]:
    """The table's rows as dicts of ``names``, times in µs since the epoch."""
    cols = {}
    for name in names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        cols[name] = col.to_pylist()
    return [dict(zip(names, values)) for values in zip(*(cols[n] for n in names))]


_kept = threading.local()  # the batch whose conversions are shared now (this thread), and them


@contextmanager
def shared(batch: Batch):
    """Within it, each conversion of ``batch`` is made once for all the rules that ask (and let go after)."""
    _kept.batch, _kept.rows = batch, {}
    try:
        yield
    finally:
        _kept.batch = _kept.rows = None


def _once(convert):
    """``convert(batch)``, made once per batch inside ``shared(batch)``."""

    @functools.wraps(convert)
    def converted(batch: Batch):
        if getattr(_kept, "batch", None) is not batch:
            return convert(batch)
        if convert not in _kept.rows:
            _kept.rows[convert] = convert(batch)
        return _kept.rows[convert]
    return converted


@_once
def events(batch: Batch) -> list[dict]:
    """The batch's events, ``attrs`` as a dict; ``ts``/``ts_end`` in µs."""
    table = batch.tables["events"]
    if not table.num_rows:
        return []
    rows = table_rows(table, tuple(table.schema.names))
    for row in rows:
        row["attrs"] = dict(row["attrs"] or ())
    return rows


FLOW_COLUMNS = ("ts", "ts_end", "uid", "orig_h", "orig_p", "resp_h", "resp_p", "proto", "ethertype", "service",
                "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts", "conn_state", "history",
                "orig_l2_addr", "resp_l2_addr")


@_once
def flows(batch: Batch) -> list[dict]:
    table = batch.tables["flows"]
    return table_rows(table, FLOW_COLUMNS) if table.num_rows else []


@_once
def macs(batch: Batch) -> dict[str, tuple[str, str]]:
    """Flow uid → (originator's MAC, responder's MAC)."""
    table = batch.tables["flows"]
    if not table.num_rows:
        return {}
    return {uid: (o, r) for uid, o, r in zip(table.column("uid").to_pylist(),
                                             table.column("orig_l2_addr").to_pylist(),
                                             table.column("resp_l2_addr").to_pylist())}


def places(batch: Batch, site: Site) -> dict[str, tuple[bool, bool]]:
    """(``site.is_site``, ``site.is_public``) of every address of the batch's flows, worked out together
    (``Site.places``) and once for all the rules inside ``shared(batch)``."""
    key = (places, site.networks)
    if getattr(_kept, "batch", None) is batch and key in _kept.rows:
        return _kept.rows[key]
    table = batch.tables["flows"]
    both = pa.chunked_array(table["orig_h"].chunks + table["resp_h"].chunks, pa.string())
    found = site.places(pc.unique(both).to_pylist())
    if getattr(_kept, "batch", None) is batch:
        _kept.rows[key] = found
    return found


def accepted(flow: dict) -> bool:
    """The responder answered: a TCP handshake it completed (``h`` in Zeek's history: its SYN-ACK),
    or any packet back for other transports."""
    if flow["proto"] == "tcp":
        return "h" in (flow["history"] or "")
    return flow["resp_pkts"] > 0


def services(flow: dict) -> set[str]:
    return set(filter(None, (flow["service"] or "").split(",")))


class Findings:
    """A batch's findings folded by (kind, key): counts summed, first ``ts`` and last ``ts_last``
    kept, evidence uids gathered (at most MAX_EVIDENCE); the first finding's other fields stand."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], dict] = {}

    def add(self, kind: str, key: str, ts: int, ts_last: int, count: int = 1, evidence: str = "",
            **fields) -> None:
        found = self._found.get((kind, key))
        if found is None:
            found = self._found[(kind, key)] = {"kind": kind, "key": key, "ts": ts, "ts_last": ts_last,
                                                "count": 0, "evidence": [], **fields}
        found["ts"], found["ts_last"] = min(found["ts"], ts), max(found["ts_last"], ts_last)
        found["count"] += count
        if evidence and evidence not in found["evidence"] and len(found["evidence"]) < MAX_EVIDENCE:
            found["evidence"].append(evidence)

    def event(self, kind: str, event: dict, mac: dict[str, tuple[str, str]], key: str = "",
              severity: str = "", details: tuple[tuple[str, str], ...] = ()) -> None:
        """A finding shown by one event (its flow's uid the evidence); the key defaults to the
        protocol and the pair."""
        orig_mac, resp_mac = mac.get(event["uid"], ("", ""))
        self.add(kind, key or f"{event['protocol']}:{event['orig_h']}>{event['resp_h']}", event["ts"],
                 event["ts_end"], event["count"] or 1, evidence=event["uid"], severity=severity,
                 src_ip=event["orig_h"], src_mac=orig_mac, dst_ip=event["resp_h"], dst_mac=resp_mac,
                 protocol=event["protocol"], details=details)

    def result(self) -> list[Finding]:
        out = []
        for found in self._found.values():
            details = found.pop("details", ())
            out.append(Finding(**{**found, "details": tuple(details), "evidence": tuple(found["evidence"])}))
        return out
