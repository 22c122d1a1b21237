"""The ledger's state per day and for all time, pairs per day (migration 018): each equals the same
question asked of the raw records, a window read through them (whole days + edge hours, or all time)
equals the hourly tables' answer, a device's newest events are the raw table's newest, and an
upgraded store is backfilled. Data: the simulated plant at four times over three days, through the
sensor pipeline and the real ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from coretest import flow, make_batch

from core.analytics import assets, changes
from core.analytics.assets import newest_events
from core.analytics import ledger_reads
from core.analytics.ledger_reads import window_params
from core.analytics.roles import service_name
from core.analytics.spans import OVERLAPS, SEEN, pair_volume_rows, state_rows
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import EPOCH, write_pcap

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

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


# The changes' questions of the raw records, at the state tables' grain: a key's records bucketed by the
# hour they start in, a bucket counting for a window when it overlaps it (OVERLAPS), one bucket back.
RAW_BUCKETS = """
    SELECT {key}, min(f) AS first_seen, max(l) AS last_seen, sum(n) AS count FROM (
        SELECT {key}, {grain}, toStartOfHour(ts) AS hour, min(ts) AS f, max(ts_end) AS l, sum({counted}) AS n
        FROM {table} WHERE tenant_id = {{tenant:UInt32}} AND {where} GROUP BY ALL)
    WHERE hour >= {{first_hour:DateTime('UTC')}} AND l >= {{start:DateTime64(6, 'UTC')}}
      AND hour < {{end:DateTime64(6, 'UTC')}} AND f < {{end:DateTime64(6, 'UTC')}}
    GROUP BY {key}"""
RAW_PAIRS = RAW_BUCKETS.format(key="orig_h, resp_h, proto, service, resp_p", grain="vlan", table="flows",
                               where="sign > 0", counted="0")
RAW_FUNCTIONS = RAW_BUCKETS.format(key="orig_h, resp_h, protocol, action", grain="1", table="events",
                                   where="action != ''", counted="toUInt64(count)")
RAW_VOLUME = """
    SELECT orig_h, resp_h, proto, service, resp_p, sum(sign * toInt64(orig_ip_bytes + resp_ip_bytes)) AS bytes,
           sum(sign * toInt64(orig_pkts + resp_pkts)) AS packets
    FROM flows WHERE tenant_id = {tenant:UInt32}
      AND ts_end >= toStartOfHour({start:DateTime64(6, 'UTC')}) AND ts_end < {end:DateTime64(6, 'UTC')}
    GROUP BY ALL"""


def raw_window(store, start: datetime, end: datetime) -> tuple[dict, dict]:
    """(pairs by (client, server, transport, service as the ledger names it), functions by key) of a
    window from the raw records, times cut to the window, bytes and packets over the hours it touches."""
    params = window_params(TENANT, start, end)
    cut = {"first_seen": lambda t: min(max(t, params["start"]), params["end"]),
           "last_seen": lambda t: max(min(t, params["end"]), params["start"])}
    volume = {tuple(r.values())[:5]: (r["bytes"], r["packets"]) for r in store.query(RAW_VOLUME, params)}
    pairs: dict[tuple, dict] = {}
    for r in store.query(RAW_PAIRS, params):
        key = (r["orig_h"], r["resp_h"], r["proto"], r["service"], r["resp_p"])
        label = service_name(r["service"], r["resp_p"])[0] or f"{r['proto']}/{r['resp_p']}"
        pair = pairs.setdefault(key[:3] + (label,), {"orig_h": r["orig_h"], "resp_h": r["resp_h"], "proto": r["proto"],
                                                       "service": label, "first_seen": None, "last_seen": None,
                                                       "bytes": 0, "packets": 0, "keys": 0})
        pair["first_seen"] = min(pair["first_seen"] or cut["first_seen"](r["first_seen"]), cut["first_seen"](r["first_seen"]))
        pair["last_seen"] = max(pair["last_seen"] or cut["last_seen"](r["last_seen"]), cut["last_seen"](r["last_seen"]))
        pair["bytes"] += volume.get(key, (0, 0))[0]
        pair["packets"] += volume.get(key, (0, 0))[1]
        pair["keys"] += 1
    functions = {tuple(r.values())[:4]: r | {k: cut[k](r[k]) for k in cut} for r in store.query(RAW_FUNCTIONS, params)}
    return pairs, functions


def test_changes_between_windows_equal_the_raw_answer(store):
    """Pairs added and removed and functions newly used between two windows — read through both
    periods' day and edge-hour rows in one query — equal the raw records' answer: windows cutting
    hours, across midnight, overlapping, one of whole days, one holding nothing, and hand-made
    records where the two periods meet (a service named by its port only, a pair named the same from
    a detected service and a port, a flow across the boundary, a new function) — asked before they
    came in too, so a kept answer must not outlive them."""
    ingest, x = Ingestor(store), DAY0 + timedelta(days=1, hours=6)
    meet = x + timedelta(minutes=10, seconds=15)
    around = ((x - timedelta(minutes=30), meet), (meet, x + timedelta(hours=2)))
    assert not any(changes.changes(store, TENANT, *around)["totals"].values())  # nothing there yet: kept until …
    hand_made = [
        [flow("10.9.0.1", "10.9.0.2", "modbus", ts=x), flow("10.9.0.3", "10.9.0.4", "", ts=x, uid="Chinted")],
        [flow("10.9.0.1", "10.9.0.2", "", ts=x + timedelta(minutes=10), uid="Cacross")],  # until meet + 15 s
        [flow("10.9.0.5", "10.9.0.6", "", ts=x + timedelta(minutes=70), resp_p=102, uid="Cs7"),
         flow("10.9.0.5", "10.9.0.6", "", ts=x + timedelta(minutes=70), resp_p=47, uid="Cport")]]
    for flows in hand_made:
        event = dict(ts=flows[0]["ts"], ts_end=flows[0]["ts"], count=2, uid=flows[0]["uid"], orig_h=flows[0]["orig_h"],
                     resp_h=flows[0]["resp_h"], resp_p=flows[0]["resp_p"], protocol="modbus",
                     action=f"write_{flows[0]['uid']}", status="ok", attrs={})
        batch = make_batch(flows, [event], [], start=flows[0]["ts"])
        assert ingest.ingest(TENANT, SENSOR, wire.encode(batch)).status == "stored"
    gap = (DAY0 - timedelta(days=9), DAY0 - timedelta(days=8))
    cases = [((STARTS[0], STARTS[1] + timedelta(minutes=1, seconds=30)), (STARTS[1] + timedelta(minutes=1, seconds=30), STARTS[3])),
             ((DAY0, DAY0 + timedelta(days=1)), (DAY0 + timedelta(days=1), DAY0 + timedelta(days=3))),
             ((DAY0 + timedelta(hours=23), DAY0 + timedelta(days=2, hours=6)), (STARTS[2], STARTS[2] + timedelta(minutes=2))),
             ((STARTS[1] + timedelta(minutes=1), STARTS[1] + timedelta(minutes=3)), (STARTS[0], STARTS[0] + timedelta(minutes=3))),
             around,  # … the batches below come in
             (gap, (DAY0, DAY0 + timedelta(days=3))), ((DAY0, DAY0 + timedelta(days=3)), gap)]
    seen = {"pairs_added": set(), "pairs_removed": set(), "functions_added": set()}
    for a, b in cases:
        (pairs_a, functions_a), (pairs_b, functions_b) = raw_window(store, *a), raw_window(store, *b)
        expected = {"pairs_added": [pairs_b[k] for k in pairs_b.keys() - pairs_a.keys()],
                    "pairs_removed": [pairs_a[k] for k in pairs_a.keys() - pairs_b.keys()],
                    "functions_added": [functions_b[k] for k in functions_b.keys() - functions_a.keys()]}
        found = changes.changes(store, TENANT, a, b)
        for name, rows in expected.items():
            assert sorted(str(sorted((k, v) for k, v in r.items() if k != "keys")) for r in rows) == sorted(
                str(sorted((k, v) for k, v in r.items() if not k.endswith("_device"))) for r in found[name]), (name, a, b)
            seen[name] |= {(r["resp_h"], r.get("service") or r["action"], r.get("keys", 1)) for r in rows}
    assert ("10.9.0.6", "s7comm", 1) in seen["pairs_added"] and ("10.9.0.6", "tcp/47", 1) in seen["pairs_added"]
    assert ("10.9.0.4", "modbus", 1) in seen["pairs_removed"]
    assert ("10.9.0.2", "modbus", 2) in seen["pairs_added"]  # against the empty window: both of its keys
    assert ("10.9.0.6", "write_Cs7", 1) in seen["functions_added"] and len(seen["functions_added"]) > 10


def _snapshot(assets: dict) -> dict:
    return {key: (a.summary(), {name: [vars(v) for v in values] for name, values in a.attributes.items()},
                  a.served, a.used, a.actions, a.rtsp_servers) for key, a in assets.items()}


def test_ledgers_read_together_equal_each_read_alone(store):
    """Several windows' ledgers read with one query per source (core.analytics.ledger_reads: rows tagged
    with their window) equal each window's ledger read alone — open, cutting hours, across midnight, of
    nothing; over all time, each client's actions are the raw events'."""
    windows = [(None, None), (STARTS[0], STARTS[1] + timedelta(minutes=1, seconds=30)),
               (DAY0 + timedelta(hours=23), DAY0 + timedelta(days=2, hours=6)),
               (DAY0 - timedelta(days=9), DAY0 - timedelta(days=8)), (None, STARTS[2])]
    together = ledger_reads.read(store, TENANT, windows)
    for index, window in enumerate(windows):
        alone = ledger_reads.read(store, TENANT, [window])
        assert _snapshot(ledger_reads.built(together, index)) == _snapshot(ledger_reads.built(alone, 0)), window
        assert together.actions[index] == alone.actions[0]
    assert together.actions[0] == {r["orig_h"]: set(r["a"]) for r in store.query(
        "SELECT orig_h, groupUniqArray(action) AS a FROM events WHERE tenant_id = {t:UInt32} AND sign > 0"
        " GROUP BY orig_h", {"t": TENANT})}
    assert len(_snapshot(ledger_reads.built(together, 0))) > 10 and not ledger_reads.built(together, 3)


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


def test_newest_events_look_at_the_recent_days_first_then_further_back(store, monkeypatch):
    """A busy device's bound is found in its last two days: one hourly rollup read when the caller knows
    when the device was last seen, else the daily one first; a limit they fall short of reads the daily
    bound and the hourly rollup from there — the events equal the raw table's every way."""
    host = store.query("SELECT orig_h AS h, count() AS n FROM events GROUP BY h ORDER BY n DESC LIMIT 1")[0]["h"]
    last_seen = store.query("SELECT max(ts) AS t FROM events WHERE orig_h = {h:String} OR resp_h = {h:String}",
                            {"h": host})[0]["t"]
    asked = []
    monkeypatch.setattr(store, "query", lambda sql, params=None, _query=store.query: (
        asked.append(sql), _query(sql, params))[1])
    for seen, limit, rollup_reads in ((None, 5, 2), (None, 100_000, 3), (last_seen, 5, 1), (last_seen, 100_000, 3)):
        monkeypatch.setattr(assets, "MAX_EVENTS", limit)
        asked.clear()
        newest = newest_events(store, TENANT, [host], seen)
        raw = store.query("SELECT ts FROM events WHERE orig_h = {h:String} OR resp_h = {h:String}"
                          " ORDER BY ts DESC LIMIT {n:UInt32}", {"h": host, "n": limit})
        assert [r["ts"] for r in newest] == [r["ts"] for r in raw] and newest
        assert sum("event_actions_1" in sql for sql in asked) == rollup_reads, (seen, limit)
