"""Fold an interval's repeated events into one row each, with a count.

A plant's polling repeats the same request many times a minute: the same Modbus read of the same
registers, the same S7 read of the same areas. Such events differ only in the attributes that name
one PDU (transaction ids, sequence numbers, round-trip times: ``TRANSACTION_ATTRS``). Events of
one flow with the same protocol, action, status and other attributes become one row: the first
one's time in ``ts``, the last one's in ``ts_end``, how many in ``count``, and the round-trip times
summarised as ``rtt`` (mean, to the µs) and ``rtt_max``. An event that happened once keeps every attribute,
so a write or a PLC stop amid the polls stays a row of its own, transaction id included.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

# Attributes naming one PDU rather than what was done; decoders use these names for them.
TRANSACTION_ATTRS = frozenset({
    "tid", "trans_id", "seq", "sid", "cseq", "pdu_ref", "invoke_id", "request_id", "xid", "sq_num",
    "rtt", "term_rtt",
})


def _key(row: dict) -> tuple:
    attrs = row["attrs"]
    return (row["uid"], row["orig_h"], row["resp_h"], row["resp_p"], row["protocol"], row["action"],
            row["status"], tuple(sorted((k, v) for k, v in attrs.items() if k not in TRANSACTION_ATTRS)))


def _mean_seconds(values: list[str]) -> str:
    """The mean of decimal second strings to the µs, rounded half to even: exact, whatever the
    order (the compiled decoders sum whole µs)."""
    return format((sum(map(Decimal, values)) / len(values)).quantize(Decimal("0.000001")), "f")


def fold_events(rows: Iterable[dict]) -> list[dict]:
    """wire.EVENTS rows (each with ``count`` 1) → one row per distinct event, in time order."""
    out = [row for _, row in fold_groups(rows)]
    out.sort(key=lambda r: r["ts"])
    return out


def fold_groups(rows: Iterable[dict]) -> list[tuple[int, dict]]:
    """(index of its first row, its row) per distinct event of ``rows``, in the order of their first rows."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for at, row in enumerate(rows):
        groups.setdefault(_key(row), []).append((at, row))
    out = []
    for members in groups.values():
        rows = [row for _, row in members]
        out.append((members[0][0], rows[0] if len(rows) == 1 else
                    merged(rows[0], sum(r["count"] for r in rows), min(r["ts"] for r in rows),
                           max(r["ts_end"] for r in rows), [r["attrs"]["rtt"] for r in rows if "rtt" in r["attrs"]])))
    return out


def merged(first: dict, count: int, ts: datetime, ts_end: datetime, rtts: list[str]) -> dict:
    """The row of a group of ``count`` events whose first row is ``first`` (``rtts``: their round-trip times)."""
    kept = {k: v for k, v in first["attrs"].items() if k not in TRANSACTION_ATTRS}
    if rtts:
        kept["rtt"] = _mean_seconds(rtts)
        kept["rtt_max"] = f"{max(map(float, rtts)):.6f}"
    return {**first, "attrs": kept, "ts": ts, "ts_end": ts_end, "count": count}
