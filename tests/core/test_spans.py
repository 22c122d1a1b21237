"""The ledger's state per day and for all time, pairs per day (migration 018): each equals the same
question asked of the raw records, a window read through them (whole days + edge hours, or all time)
equals the hourly tables' answer, a device's newest events are the raw table's newest, and an
upgraded store is backfilled. Data: the simulated plant at four times over three days, through the
sensor pipeline and the real ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.analytics import assets
from core.analytics.assets import newest_events, window_params
from core.analytics.spans import OVERLAPS, SEEN, pair_volume_rows, state_rows
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import EPOCH, write_pcap

TENANT, SENSOR = 5, 2
DAY0 = datetime.fromtimestamp(EPOCH, UTC)
# captures of ~4 minutes each: one crossing midnight, so a sighting spans two days
STARTS = (DAY0 + timedelta(hours=1), DAY0 + timedelta(hours=23, minutes=58),
          DAY0 + timedelta(days=1, hours=12, minutes=30), DAY0 + timedelta(days=2, hours=5))
SPANS = ("pair_seen_1d", "pair_seen_all", "asset_seen_1d", "asset_seen_all", "event_actions_1d",
         "event_actions_all", "pairs_1d")

# Each new table against the raw records it is made from: the same keys, minima, maxima and sums.
PAIR_KEY = "tenant_id, orig_h, resp_h, resp_p, vlan, service, proto"
EVENT_KEY = "tenant_id, orig_h, resp_h, protocol, action"
AGAINST_RAW = {
    "pair_seen_1d": (f"SELECT {PAIR_KEY}, day, min(first_seen) AS f, max(last_seen) AS l FROM pair_seen_1d GROUP BY ALL",
                     f"SELECT {PAIR_KEY}, toStartOfDay(ts) AS day, min(ts) AS f, max(ts_end) AS l FROM flows"
                     " WHERE sign > 0 GROUP BY ALL"),
    "pair_seen_all": (f"SELECT {PAIR_KEY}, min(first_seen) AS f, max(last_seen) AS l FROM pair_seen_all GROUP BY ALL",
                      f"SELECT {PAIR_KEY}, min(ts) AS f, max(ts_end) AS l FROM flows WHERE sign > 0 GROUP BY ALL"),
    "asset_seen_1d": ("SELECT tenant_id, day, mac, ip, min(first_seen) AS f, max(last_seen) AS l FROM asset_seen_1d"
                      " GROUP BY ALL",
                      "SELECT tenant_id, toStartOfDay(ts) AS day, mac, ip, min(ts) AS f, max(ts) AS l FROM observations"
                      " GROUP BY ALL"),
    "asset_seen_all": ("SELECT tenant_id, mac, ip, min(first_seen) AS f, max(last_seen) AS l FROM asset_seen_all"
                       " GROUP BY ALL",
                       "SELECT tenant_id, mac, ip, min(ts) AS f, max(ts) AS l FROM observations GROUP BY ALL"),
    "event_actions_1d": (f"SELECT {EVENT_KEY}, day, sum(count) AS n, min(first_seen) AS f, max(last_seen) AS l"
                         " FROM event_actions_1d GROUP BY ALL",
                         f"SELECT {EVENT_KEY}, toStartOfDay(ts) AS day, sum(sign * toInt64(count)) AS n, min(ts) AS f,"
                         " max(ts_end) AS l FROM events GROUP BY ALL"),
    "event_actions_all": (f"SELECT {EVENT_KEY}, sum(count) AS n, min(first_seen) AS f, max(last_seen) AS l"
                          " FROM event_actions_all GROUP BY ALL",
                          f"SELECT {EVENT_KEY}, sum(sign * toInt64(count)) AS n, min(ts) AS f, max(ts_end) AS l"
                          " FROM events GROUP BY ALL"),
    "pairs_1d": (f"SELECT {PAIR_KEY}, sensor_id, day, sum(bytes) AS b, sum(packets) AS p, sum(flows) AS n,"
                 " min(first_hour) AS fh, max(last_hour) AS lh FROM pairs_1d GROUP BY ALL",
                 f"SELECT {PAIR_KEY}, sensor_id, toStartOfDay(ts_end) AS day,"
                 " sum(sign * toInt64(orig_ip_bytes + resp_ip_bytes)) AS b, sum(sign * toInt64(orig_pkts + resp_pkts)) AS p,"
                 " sum(sign * new_flow) AS n, min(toStartOfHour(ts_end)) AS fh, max(toStartOfHour(ts_end)) AS lh"
                 " FROM flows GROUP BY ALL"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    work = tmp_path_factory.mktemp("spans")
    with ClickHouseStore(f"chdb://{work}/ch") as ch:
        ch.migrate()
        ingest = Ingestor(ch)
        for seed, start in enumerate(STARTS, 1):
            pcap = work / f"plant{seed}.pcap"
            write_pcap(pcap, packets=3000, seed=seed, start=start.timestamp())
            for batch in iter_batches([pcap], 60.0, sensor="SN-spans", observer=Observer()):
                assert ingest.ingest(TENANT, SENSOR, wire.encode(batch)).status == "stored"
        yield ch


def rows(ch: ClickHouseStore, sql: str) -> list[tuple]:
    return sorted(tuple(r.values()) for r in ch.query(sql))


@pytest.mark.parametrize("table", SPANS)
def test_each_rollup_equals_the_raw_answer(store, table):
    mine, raw = AGAINST_RAW[table]
    expected = rows(store, raw)
    assert len(expected) > 5
    assert rows(store, mine) == expected
    if table.endswith("_1d"):  # the data spans three days
        assert len({r["day"] for r in store.query(f"SELECT DISTINCT day FROM {table}")}) == 3


def windows() -> list[tuple[datetime | None, datetime | None]]:
    """All time, open on one side, inside one hour, across midnight, and windows of whole days with
    and without edges."""
    return [(None, None), (DAY0 + timedelta(hours=12), None), (None, DAY0 + timedelta(days=1, hours=13)),
            (STARTS[0], STARTS[0] + timedelta(minutes=2)),
            (STARTS[1] + timedelta(minutes=1), STARTS[1] + timedelta(minutes=3)),
            (DAY0, DAY0 + timedelta(days=3)), (DAY0 + timedelta(hours=1, minutes=1), DAY0 + timedelta(days=2, hours=5, minutes=2)),
            (DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)), (DAY0 + timedelta(hours=23), DAY0 + timedelta(days=2, hours=1))]


HOURLY = {  # the same answers from the hourly tables alone (the reads before migration 018)
    "pair_seen": "orig_h, resp_h, resp_p, vlan, service, proto",
    "asset_seen": "mac, ip",
    "event_actions": "orig_h, resp_h, protocol, action",
}


@pytest.mark.parametrize("table", HOURLY)
def test_a_window_reads_the_same_from_days_and_edge_hours(store, table):
    key = HOURLY[table]
    total = ", sum(count) AS count" if table == "event_actions" else ""
    columns = f"{key}, first_seen, last_seen{', count' if total else ''}"
    for start, end in windows():
        params = window_params(TENANT, start, end)
        spans = store.query(f"SELECT {key}, {SEEN}{total} FROM {state_rows(table, columns, params)}"
                            f" GROUP BY {key} ORDER BY {key}", params)
        hourly = store.query(f"SELECT {key}, {SEEN}{total} FROM (SELECT * FROM {table}_1h WHERE {OVERLAPS})"
                             f" GROUP BY {key} ORDER BY {key}", params)
        assert spans == hourly, (table, start, end)
    assert spans  # the last window holds data


def test_pair_volume_reads_the_same_from_days_and_edge_hours(store):
    for start, end in windows():
        params = window_params(TENANT, start, end)
        pairs = pair_volume_rows("orig_h, resp_h, bytes, packets, first_hour, last_hour",
                                 "orig_h, resp_h, bytes, packets, hour, hour")
        spans = store.query("SELECT orig_h, resp_h, sum(bytes) AS b, sum(packets) AS p, min(first_hour) AS fh,"
                            f" max(last_hour) AS lh FROM {pairs} GROUP BY ALL ORDER BY ALL", params)
        hourly = store.query(
            "SELECT orig_h, resp_h, sum(bytes) AS b, sum(packets) AS p, min(hour) AS fh, max(hour) AS lh FROM pairs_1h"
            " WHERE tenant_id = {tenant:UInt32} AND hour >= toStartOfHour({start:DateTime64(6, 'UTC')})"
            " AND hour < {end:DateTime64(6, 'UTC')} GROUP BY ALL ORDER BY ALL", params)
        assert spans == hourly, (start, end)
    assert spans


def test_a_devices_newest_events_are_the_raw_tables_newest(store, monkeypatch):
    """A bound small enough that the read stops hours before the device's first event."""
    hosts = [r["h"] for r in store.query("SELECT orig_h AS h, count() AS n FROM events GROUP BY h ORDER BY n DESC LIMIT 3")]
    for limit in (5, 40, 100_000):
        monkeypatch.setattr(assets, "MAX_EVENTS", limit)
        for host in hosts:
            raw = store.query("SELECT ts, ts_end, count, orig_h, resp_h, resp_p, protocol, action, status, attrs FROM events"
                              " WHERE orig_h = {h:String} OR resp_h = {h:String} ORDER BY ts DESC LIMIT {n:UInt32}",
                              {"h": host, "n": limit})
            newest = newest_events(store, TENANT, [host])
            assert [r["ts"] for r in newest] == [r["ts"] for r in raw]
            assert len(newest) == min(limit, len(raw)) and newest


def test_an_upgraded_store_is_backfilled(store):
    """A store whose data came in before migration 018 gets the new tables from its hourly state.
    (Runs last: it rebuilds the module's tables.)"""
    before = {table: rows(store, AGAINST_RAW[table][0]) for table in SPANS}
    for table in SPANS:
        store.command(f"DROP TABLE {table}_mv")
        store.command(f"DROP TABLE {table}")
    store.command("DELETE FROM schema_migrations WHERE version = 18")
    assert store.migrate() == [18]
    assert {table: rows(store, AGAINST_RAW[table][0]) for table in SPANS} == before
