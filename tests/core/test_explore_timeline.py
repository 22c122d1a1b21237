"""The explorer's timeline and count from the rollups of records per minute and batch (migration 025) and per
address or port and hour (migration 026) are the raw tables' (``count()`` per bucket under the explorer's WHERE):
over windows of every bucket size, whole minutes (hours) or not, bounds given in another time zone, edges that cut
batches by the window rule on ``interval_start``, every filter the rollups answer and one they do not, another
tenant's records beside, a batch taken out, raw rows a retention TTL dropped, and a store upgraded to the
migrations with records in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from coretest import T0, fail_commit_markers, flow, make_batch
from storetemplate import migrated

from core.analytics import explore
from core.analytics.window import Window, utc
from core.export.retention import redate
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore, migrations, render
from sensor import wire

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

DAYS = 9
SERVICES = (("modbus", "tcp", "S1"), ("s7comm", "tcp", "SF"), ("dns", "udp", "SF"))


def batch(start: datetime, sensor: int) -> wire.Batch:
    """Ten minutes of flows and events: some begun 8 minutes before the interval (their batch is past a window
    that ends 5 minutes before it), some 8 minutes into it (past a window that starts 5 minutes after it)."""
    offsets = [timedelta(minutes=-8), timedelta(seconds=17.5), timedelta(minutes=3, seconds=59),
               timedelta(minutes=8, microseconds=250)]
    # (the first service's flows go from 10.0.<sensor>.0 to itself: an address on both sides)
    flows = [flow(orig_h=f"10.0.{sensor}.{i}", service=service, proto=proto, conn_state=state, ts=start + offset,
                  **({"resp_h": f"10.0.{sensor}.0", "orig_p": 502} if i == 0 else {}))
             for i, (service, proto, state) in enumerate(SERVICES) for offset in offsets]
    events = [dict(ts=start + offset, ts_end=start + offset, count=1, uid="C1", orig_h="10.0.0.1",
                   resp_h=f"10.0.{sensor}.2", resp_p=port, protocol=protocol, action=action, status="ok",
                   attrs={"unit": "1"})
              for protocol, action, port in (("modbus", "write", 502), ("modbus", "read", 502), ("s7comm", "stop", 102))
              for offset in offsets[1:]]
    made = make_batch(flows, events, [], start)
    return wire.Batch(start, start + timedelta(minutes=10), made.tables, made.counters)


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    """Tenant 1's two sensors, a batch every 7 hours 13 minutes over DAYS days; tenant 2's sensor beside."""
    with ClickHouseStore(f"chdb://{migrated(tmp_path_factory.mktemp('store'))}/clickhouse") as store:
        ingest = Ingestor(store)
        for n in range(DAYS * 24 * 60 // 433):
            start = T0 + timedelta(minutes=433 * n)
            for tenant, sensor in ((1, 1), (1, 2), (2, 3)):
                assert ingest.ingest(tenant, sensor, wire.encode(batch(start, sensor))).status == "stored"
        yield store


def raw(ch, kind: explore.Kind, tenant: int, f: explore.Filters) -> tuple[int, list[dict]]:
    """The timeline as the raw table gives it."""
    where, params = explore._where(kind, f, tenant)
    step = explore.bucket_seconds(f.window)
    rows = ch.query(f"SELECT toStartOfInterval(ts, INTERVAL {{step:UInt32}} SECOND) AS t, count() AS n"
                    f" FROM {kind.table} WHERE {where} GROUP BY t ORDER BY t", params | {"step": step})
    return step, [{"t": utc(r["t"]), "n": r["n"]} for r in rows]


@pytest.fixture
def reads(ch, monkeypatch) -> list[str]:
    """The SQL of every query from now on."""
    seen, query = [], ch.query
    monkeypatch.setattr(ch, "query", lambda sql, params=None: seen.append(sql) or query(sql, params))
    return seen


def at(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


WINDOWS = {  # (start, end): spans of every bucket size up to 3 hours
    "1 h, whole minutes": (T0 + timedelta(minutes=433), T0 + timedelta(minutes=493)),
    "24 h": (T0 + timedelta(hours=5), T0 + timedelta(hours=29)),
    "7 d": (T0, T0 + timedelta(days=7)),
    "30 d": (T0 - timedelta(days=20), T0 + timedelta(days=10)),
    "seconds at both edges": (T0 + timedelta(minutes=433, seconds=17.6), T0 + timedelta(minutes=869, seconds=58.5)),
    "+05:30 and +09:00": (at("2024-05-01T17:30:20.000001+05:30"), at("2024-05-04T06:03:59+09:00")),
    "ends 6 minutes before a batch": (T0, T0 + timedelta(minutes=433 * 5 - 6)),
    "starts 6 minutes after a batch": (T0 + timedelta(minutes=433 * 2 + 6), T0 + timedelta(days=3)),
    # buckets of an hour (migration 026's rollup): edges inside hours, cutting batches by the window rule
    "4 d, ends 6 minutes before a batch": (T0 + timedelta(seconds=13), T0 + timedelta(minutes=433 * 12 - 6)),
    "4 d, starts 6 minutes after a batch": (T0 + timedelta(minutes=433 * 2 + 6), T0 + timedelta(days=4, minutes=1)),
    "4 d, +05:30": (at("2024-05-01T17:30:20.000001+05:30"), at("2024-05-05T17:30:00+05:30")),
    # whole hours, a batch's records in the first (last) one while its interval starts 5 minutes past the end
    # (8 minutes before the start): the hour of interval_start it shares with batches of the window is read raw
    "4 d, ends 5 minutes before a batch, whole hours": (T0 - timedelta(days=2), T0 + timedelta(minutes=433 * 5 - 5)),
    "4 d, starts 8 minutes after a batch, whole hours": (T0 + timedelta(minutes=433 * 4 + 8),
                                                         T0 + timedelta(days=4, minutes=433 * 4 + 8)),
}
FILTERS = {  # filters the minute rollup answers, the hourly one (an address or a flow's port alone), neither
    "flows": [{}, {"sensor": 2, "protocol": "s7comm"}, {"protocol": "tcp", "status": "SF"}, {"device": "10.0.1.2"},
              {"device": "10.0.1.0"}, {"device": "00:1b:1b:00:00:02"}, {"source": "10.0.0.2"},
              {"destination": "10.0.2.0"}, {"source": "00:1b:1b:00:00:01"}, {"port": 502}, {"port": 50000},
              {"device": "10.0.1.2", "sensor": 1}],
    "events": [{}, {"sensor": 1, "protocol": "modbus", "action": "read"}, {"port": 102, "status": "ok"},
               {"device": "10.0.0.1"}, {"source": "10.0.0.1"}, {"destination": "10.0.2.2"},
               {"destination": "10.0.0.1"}, {"attrs": (("unit", "1"),)}],
}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("kind", ["flows", "events"])
def test_the_timeline_is_the_raw_tables(ch, reads, kind, window):
    kind = explore.KINDS[kind]
    for filters in FILTERS[kind.table]:
        f = explore.Filters(Window(*WINDOWS[window]), **filters)
        step, buckets = explore.timeline(ch, kind, 1, f)
        assert (step, buckets) == raw(ch, kind, 1, f), filters
        whole = f.window.start.second == f.window.end.second == 0
        rolled = set(filters) <= kind.rolled
        valued = len(filters) == 1 and set(filters) <= dict(kind.valued).keys() and step >= 3600
        assert (f"FROM {kind.table} " not in "".join(reads[:-1])) == (rolled and whole), filters
        assert (f"FROM {kind.values} " in "".join(reads[:-1])) == (valued and not rolled), filters
        reads.clear()
    assert sum(b["n"] for b in explore.timeline(ch, kind, 1, explore.Filters(Window(*WINDOWS["7 d"])))[1]) > 100


def test_a_batch_taken_out_is_not_counted(ch, monkeypatch):
    ingest = Ingestor(ch)
    fail_commit_markers(monkeypatch, ingest, "the commit marker failed")
    with pytest.raises(RuntimeError):
        ingest.ingest(1, 1, wire.encode(batch(T0 + timedelta(minutes=30), 1)))
    f = explore.Filters(Window(T0, T0 + timedelta(hours=2)))
    for kind, device in ((explore.FLOWS, "10.0.1.0"), (explore.EVENTS, "10.0.1.2")):
        assert ch.query(f"SELECT sum(records) AS n, count() AS rows FROM {kind.rollup} WHERE tenant_id = 1"
                        " AND minute >= {s:DateTime} AND minute < {e:DateTime}",
                        {"s": f.window.start, "e": f.window.end})[0]["rows"] > 0  # the batch and its retraction
        assert explore.timeline(ch, kind, 1, f) == raw(ch, kind, 1, f)
        days = explore.Filters(Window(T0, T0 + timedelta(days=4)), device=device)
        assert explore.timeline(ch, kind, 1, days) == raw(ch, kind, 1, days)


def test_raw_rows_a_retention_dropped_are_not_counted(ch):
    """Tenant 3's six daily batches re-dated to a retention that has passed for them all: the re-dating drops the
    raw rows, while the rollup keeps its rows a week longer (those of the two newest batches). The timeline
    counts what the raw table holds, before and after merges, and after the retention is lengthened again."""
    ingest = Ingestor(ch)
    for n in range(6):
        assert ingest.ingest(3, 4, wire.encode(batch(T0 + timedelta(days=n), 4))).status == "stored"
    redate(ch, 3, (datetime.now(UTC) - T0).days - 10, now=datetime.now(UTC) + timedelta(days=2))
    held = "SELECT count() AS n FROM {} WHERE tenant_id = 3"
    for merged in ("flows", "explore_flows_1m", "explore_flow_values_1h"):
        assert [ch.query(held.format(t))[0]["n"] for t in ("flows", "explore_flows_1m")] == [0, 2 * 12]
        assert ch.query(held.format("explore_flow_values_1h"))[0]["n"] > 0
        for window in (Window(T0, T0 + timedelta(days=7)), Window(T0 + timedelta(days=3), T0 + timedelta(days=7))):
            for f in (explore.Filters(window), explore.Filters(window, device="10.0.4.0")):
                assert explore.timeline(ch, explore.FLOWS, 3, f) == raw(ch, explore.FLOWS, 3, f) == (3600, [])
        ch.command(f"OPTIMIZE TABLE {merged} FINAL")
    redate(ch, 3, (datetime.now(UTC) - T0).days + 100)  # lengthened: what had expired stays so in the rollups
    for f in (explore.Filters(window), explore.Filters(window, device="10.0.4.0")):
        assert explore.timeline(ch, explore.FLOWS, 3, f) == raw(ch, explore.FLOWS, 3, f) == (3600, []), f


def test_the_least_retention_in_a_window_decides_what_is_read_raw(ch):
    """Two batches in one window: one re-dated to a retention that has passed for it (raw rows dropped, the
    rollups' kept a week longer), one kept for years. The rollups count only what the least retention cannot
    have expired: the first batch is read raw (nothing), the second counted."""
    assert Ingestor(ch).ingest(4, 5, wire.encode(batch(T0 + timedelta(days=1), 5))).status == "stored"
    redate(ch, 4, (datetime.now(UTC) - T0).days - 3, now=datetime.now(UTC) + timedelta(days=2))
    kept = Ingestor(ch, retention=lambda tenant: 5000)
    assert kept.ingest(4, 5, wire.encode(batch(T0 + timedelta(days=2), 5))).status == "stored"
    for kind, device in ((explore.FLOWS, "10.0.5.0"), (explore.EVENTS, "10.0.0.1")):
        for f in (explore.Filters(Window(T0, T0 + timedelta(days=7))),
                  explore.Filters(Window(T0, T0 + timedelta(days=7)), device=device)):
            step, buckets = explore.timeline(ch, kind, 4, f)
            assert (step, buckets) == raw(ch, kind, 4, f)
            assert {b["t"].date() for b in buckets} == {(T0 + timedelta(days=2)).date()}, kind


def each_filter(ch, kind: explore.Kind) -> None:
    """The timeline of tenants 1 and 2 over 30 days is the raw table's, with every filter (of both rollups)."""
    for filters in FILTERS[kind.table]:
        f = explore.Filters(Window(*WINDOWS["30 d"]), **filters)
        assert explore.timeline(ch, kind, 1, f) == raw(ch, kind, 1, f), filters
        assert explore.timeline(ch, kind, 2, f) == raw(ch, kind, 2, f), filters


def drop_values_rollups(ch) -> None:
    """Migration 026's tables and views gone, and its row: the store as before it."""
    for kind in (explore.FLOWS, explore.EVENTS):
        for name in ("in", "1h", "batches"):
            ch.command(f"DROP VIEW IF EXISTS {kind.values.removesuffix('_1h')}_{name}_mv")
        for name in ("in", "1h", "batches"):
            ch.command(f"DROP TABLE IF EXISTS {kind.values.removesuffix('_1h')}_{name}")
    ch.command("DELETE FROM schema_migrations WHERE version = 26")


def test_an_upgraded_store_counts_the_records_it_held(ch):
    """Records stored before migrations 025 and 026: migrating fills the rollups from them."""
    for kind in (explore.FLOWS, explore.EVENTS):
        ch.command(f"DROP VIEW {kind.rollup}_mv")
        ch.command(f"DROP TABLE {kind.rollup}")
    drop_values_rollups(ch)
    ch.command("DELETE FROM schema_migrations WHERE version = 25")
    assert ch.migrate() == [25, 26]
    for kind in (explore.FLOWS, explore.EVENTS):
        each_filter(ch, kind)


def test_a_backfill_cut_short_then_run_again_counts_every_record(ch):
    """A backfill commits its blocks as it goes, their batches noted with them, and a block ends where it
    falls, not between batches: run again after a failure inside it, the file counts the batches it had
    counted in part (here a third of every batch's records left out of the first run's)."""
    drop_values_rollups(ch)
    (sql,) = [sql for version, _, sql in migrations() if version == 26]
    for statement in render(sql):
        if statement.startswith("INSERT INTO explore_flow_values_in"):
            ch.command(statement.replace("WHERE ts >=", "WHERE cityHash64(uid, ts) % 3 != 0 AND ts >=", 1))
            break  # the process died here
        ch.command(statement)
    assert ch.migrate() == [26]
    each_filter(ch, explore.FLOWS)


def test_the_migration_run_again_or_beside_uploads_counts_each_batch_once(ch):
    """The backfill leaves out batches the rollups hold: the view's (an upload while the file ran) and the
    first run's (the file run again after a failure past its first backfill)."""
    ch.command("DELETE FROM schema_migrations WHERE version IN (25, 26)")
    assert ch.migrate() == [25, 26]
    for kind in (explore.FLOWS, explore.EVENTS):
        each_filter(ch, kind)
