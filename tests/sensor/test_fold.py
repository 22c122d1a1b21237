"""Folding repeated events: counts add up to the events folded, one-off actions keep every attribute,
and on real captures the folded batch holds exactly the per-PDU events the agreement tests check."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from sensor.meter import fast_fold
from sensor.meter.fold import TRANSACTION_ATTRS, fold_events
from sensor.meter.pipeline import iter_batches, iter_intervals

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def event(second: float, action: str, status: str = "OK", **attrs) -> dict:
    ts = T0 + timedelta(seconds=second)
    return {"ts": ts, "ts_end": ts, "count": 1, "uid": "C1", "orig_h": "10.0.0.9", "resp_h": "10.0.0.1",
            "resp_p": 502, "protocol": "modbus", "action": action, "status": status,
            "attrs": {k: str(v) for k, v in attrs.items()}}


def test_polls_fold_and_a_write_amid_them_stays_whole():
    polls = [event(i, "READ_HOLDING_REGISTERS", tid=i, unit=1, address=0, quantity=10, rtt=0.002 * (i + 1))
             for i in range(5)]
    write = event(2.5, "WRITE_SINGLE_REGISTER", tid=99, unit=1, address=7, quantity=1, rtt=0.01)
    other_range = event(3.5, "READ_HOLDING_REGISTERS", tid=100, unit=1, address=100, quantity=10)
    folded = fold_events([*polls, write, other_range])
    assert [(e["action"], e["count"]) for e in folded] == [
        ("READ_HOLDING_REGISTERS", 5), ("WRITE_SINGLE_REGISTER", 1), ("READ_HOLDING_REGISTERS", 1)]
    poll = folded[0]
    assert poll["ts"] == T0 and poll["ts_end"] == T0 + timedelta(seconds=4)
    assert poll["attrs"] == {"unit": "1", "address": "0", "quantity": "10", "rtt": "0.006000", "rtt_max": "0.010000"}
    assert folded[1] == write and folded[2] == other_range  # once: untouched, transaction id included


def test_different_status_or_flow_is_not_folded():
    ok, failed = event(0, "READ_COILS", tid=1), event(1, "READ_COILS", "ILLEGAL_DATA_ADDRESS", tid=2)
    elsewhere = event(2, "READ_COILS", tid=3) | {"uid": "C2"}
    assert len(fold_events([ok, failed, elsewhere])) == 3


def _key(e: dict) -> tuple:
    return (e["uid"], e["protocol"], e["action"], e["status"],
            tuple(sorted((k, v) for k, v in e["attrs"].items() if k not in TRANSACTION_ATTRS | {"rtt_max"})))


TRACES = ["icsnpp/modbus/traces", "icsnpp/s7comm/traces", "icsnpp/enip/traces", "icsnpp/bacnet/traces",
          "icsnpp/dnp3/traces"]


@pytest.mark.parametrize("folder", TRACES)
def test_folded_batches_count_every_pdu_event_of_real_captures(folder):
    """The per-PDU events (which test_icsnpp_agreement matches against the ICSNPP logs) and the
    folded batches the sensor sends agree on every event's count, interval by interval."""
    traces = sorted(p for p in (CORPUS / folder).glob("*") if p.suffix in (".pcap", ".pcapng"))
    if not traces:
        pytest.skip(f"{folder} not in the corpus")
    folded_rows = detail_rows = 0
    for trace in traces:
        detail = [Counter(_key(e) for e in iv.events) for iv in iter_intervals([trace], 60.0)]
        batches = list(iter_batches([trace], 60.0, fold=True))
        assert len(batches) == len(detail)
        for counts, batch in zip(detail, batches):
            rows = batch.tables["events"].to_pylist()
            folded = Counter()
            for row in rows:
                row["attrs"] = dict(row["attrs"])
                folded[_key(row)] += row["count"]
            assert folded == counts, trace.name
            folded_rows += len(rows)
            detail_rows += counts.total()
    assert folded_rows < detail_rows  # every folder has repeated polls: folding must have happened
    print(f"{folder}: {detail_rows} events → {folded_rows} rows")


@pytest.mark.parametrize("seed", range(3))
def test_compiled_groups_are_those_of_a_dict_by_key_in_time_then_key_order(seed):
    """fast_fold.group_columns: per group of rows equal in the key columns, its first row, count, first and last
    ts and rtt sums; groups in order of first ts, those of one first ts in the order of their keys."""
    rng = np.random.default_rng(seed)
    n, key_cols, ts_col, rtt_col = 5_000, [4, 0, 2, 3], 1, 5
    rows = rng.integers(0, 3, (n, 6)).astype(np.int64)
    rows[:, ts_col], rows[:, rtt_col] = rng.integers(0, 40, n), rng.integers(-1, 9, n)  # many ties; rtt -1: none
    by_key: dict[tuple, list[int]] = {}
    for at, key in enumerate(rows[:, key_cols].tolist()):
        by_key.setdefault(tuple(key), []).append(at)
    want = []
    for key, members in sorted(by_key.items(), key=lambda kv: (rows[kv[1], ts_col].min(), kv[0])):
        ts, rtt = rows[members, ts_col], rows[members, rtt_col]
        want.append((members[0], len(members), ts.min(), ts.max(), (rtt >= 0).sum(), rtt[rtt >= 0].sum(), rtt.max()))
    groups = fast_fold.group_columns(rows, key_cols, ts_col, rtt_col)
    assert list(zip(*(column.tolist() for column in groups))) == want
