"""The monthly data budget: near it, flows travel as coarse summaries so events and observations
keep flowing.

Past ``ECONOMY_AT`` of the month's allowance the sensor is in economy mode: each interval's batch
still carries its events, observations and capture counters, but its flow records are held back and
folded into one summary record per communicating pair and service over ``economy_interval_s``
(L2 flows: per MAC pair and EtherType). Byte and packet counts are summed, so totals stay exact;
what is lost is the per-connection detail (ports, uid, state, history). The summary being gathered
lives in memory: a stop spools it, a crash loses it (the intervals' capture counters are spooled).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sensor import wire

ECONOMY_AT = 0.8  # share of the monthly allowance used
SUMMED = ("orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes")
KEY = ("vlan", "orig_h", "resp_h", "resp_p", "proto", "ethertype", "service")


def mode(used: int, budget: int) -> str:
    """'economy' once more than ECONOMY_AT of a (non-zero) budget is used, else 'full'."""
    return "economy" if budget and used > ECONOMY_AT * budget else "full"


def _key(row: dict) -> tuple:
    l2 = (row["orig_l2_addr"], row["resp_l2_addr"]) if row["proto"] == "l2" else ("", "")
    return tuple(row[name] for name in KEY) + l2


class FlowSummary:
    """Flow records of the batches ``add``ed, folded per pair and service over periods of
    ``period`` seconds (aligned to the epoch, as batch intervals are)."""

    def __init__(self, period: float, sensor: str = ""):
        self.period = period
        self.sensor = sensor
        self.started: float | None = None  # start of the period being summarised (epoch seconds)
        self.rows: dict[tuple, dict] = {}

    def add(self, batch: wire.Batch) -> wire.Batch | None:
        """Fold ``batch``'s flows in; returns the previous period's summary once ``batch`` is past it."""
        start = batch.interval_start.timestamp() // self.period * self.period
        done = self.take() if self.started is not None and start != self.started else None
        self.started = start
        for row in batch.tables["flows"].to_pylist():
            into = self.rows.setdefault(_key(row), row | {name: 0 for name in SUMMED})
            into["ts"], into["ts_end"] = min(into["ts"], row["ts"]), max(into["ts_end"], row["ts_end"])
            into["orig_l2_addr"] = into["orig_l2_addr"] or row["orig_l2_addr"]
            into["resp_l2_addr"] = into["resp_l2_addr"] or row["resp_l2_addr"]
            for name in SUMMED:
                into[name] += row[name]
        return done

    def take(self) -> wire.Batch | None:
        """The summary so far as a batch of its own (no counters: those went with each interval)."""
        rows = [self._record(key, row) for key, row in self.rows.items()]
        began, self.started, self.rows = self.started, None, {}
        if not rows:
            return None
        start = datetime.fromtimestamp(began, timezone.utc)
        end = datetime.fromtimestamp(began + self.period, timezone.utc)
        tables = {"flows": wire.table_from_rows("flows", rows), "events": wire.empty_table("events"),
                  "observations": wire.empty_table("observations")}
        return wire.Batch(start, end, tables, sensor=self.sensor)

    def _record(self, key: tuple, row: dict) -> dict:
        digest = hashlib.blake2b(repr((self.sensor, self.started, key)).encode(), digest_size=9).hexdigest()
        return row | {"uid": f"S{digest}", "community_id": "", "orig_p": 0, "conn_state": "", "history": "",
                      "duration": (row["ts_end"] - row["ts"]).total_seconds(), "final": True}
