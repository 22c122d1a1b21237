"""Retention with ClickHouse TTLs: raw records expire after their tenant's retention, counted from
their batch's interval (which also partitions them), rollups outlive them; stores from before
retention are rebuilt by migration 014 without losing a row or a rollup view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from coretest import flow, make_batch
from pgtest import controlplane_url
from typer.testing import CliRunner

import core.store.clickhouse as clickhouse
from core import cli
from core.config import Settings
from core.export import retention
from core.ingest import Ingestor, batch_rows, with_keys
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane, Tenant
from sensor import wire

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ACME, GLOBEX = 1, 2


def count(ch: ClickHouseStore, table: str, tenant_id: int) -> int:
    return ch.query(f"SELECT count() AS n FROM {table} WHERE tenant_id = {{t:UInt32}}", {"t": tenant_id})[0]["n"]


def days_ago(days: float, long_flow: bool = False) -> wire.Batch:
    """A minute of data ``days`` ago; with ``long_flow``, a connection that began 40 days earlier."""
    start = NOW - timedelta(days=days)
    began = start - timedelta(days=40) if long_flow else start
    return make_batch([flow(ts=began)], start=start)


@pytest.mark.no_controlplane
def test_raw_records_expire_by_their_tenants_retention_and_rollups_stay(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        ingest = Ingestor(ch, retention={ACME: 2, GLOBEX: 30}.__getitem__)
        for tenant_id in (ACME, GLOBEX):
            for days in (5, 1):
                assert ingest.ingest(tenant_id, 1, wire.encode(days_ago(days))).status == "stored"
        # a batch older than its retention when it arrives keeps its rows TAKE_OUT_GRACE (a take-out may
        # need them); re-dated with the retention once the grace is over, they go
        for redated in (False, True):
            if redated:
                retention.redate(ch, ACME, 2, now=NOW + 2 * retention.TAKE_OUT_GRACE)
            for table in retention.RAW_TABLES:
                ch.command(f"OPTIMIZE TABLE {table} FINAL")
                per_batch = days_ago(1).rows(table)
                acme = per_batch if redated else 2 * per_batch
                assert (count(ch, table, ACME), count(ch, table, GLOBEX)) == (acme, 2 * per_batch), table
        assert count(ch, "pairs_1h", ACME) == 2  # the expired minute's rollup is kept


@pytest.mark.no_controlplane
def test_partitions_follow_the_interval_not_the_flows_start(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        batch = days_ago(1, long_flow=True)
        Ingestor(ch).ingest(ACME, 1, wire.encode(batch))
        (row,) = ch.query("SELECT _partition_id AS p, ts FROM flows")
        assert row["p"] == batch.interval_start.strftime("%Y%m") != row["ts"].strftime("%Y%m")


def test_rollup_ttls_and_undated_rows_are_applied_at_start(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        for tenant_id in (ACME, GLOBEX):
            Ingestor(ch).ingest(tenant_id, 1, wire.encode(days_ago(1)))  # stored with no retention (0)
        cp = ControlPlane(controlplane_url(tmp_path))
        cp.create_schema()
        with cp.session() as db:
            db.add(Tenant(id=ACME, name="acme", retention_days=90))
            db.add(Tenant(id=GLOBEX, name="globex", retention_days=0))  # kept for good
        counted = "SELECT tenant_id, sum(changes) AS n FROM tenant_changes WHERE source = 'retention' GROUP BY tenant_id"
        retention.apply(ch, retention.Retention(cp, 400), rollup_days=1000)
        first = ch.query(counted)
        retention.apply(ch, retention.Retention(cp, 400), rollup_days=1000)  # the next start: nothing to do
        assert ch.query(counted) == first and GLOBEX not in {r["tenant_id"] for r in first}
        assert {r["tenant_id"]: r["n"] for r in first}[ACME] == 1  # acme's re-date counted, once
        cp.close()
        rollups = retention.rollup_tables(ch)
        assert {"traffic_1m", "pairs_1h", "asset_seen_1h"} <= set(rollups)
        assert not set(retention.RAW_COUNTS) & set(rollups)  # expire with the raw rows they count
        for table, column in rollups.items():
            shown = ch.query("SELECT create_table_query AS q FROM system.tables WHERE name = {n:String}", {"n": table})
            assert f"TTL {column} + toIntervalDay(least(1000, " in shown[0]["q"], table
        for table in ("flows", *retention.RAW_COUNTS):  # the explorer's counts re-dated with the raw rows
            got = ch.query(f"SELECT DISTINCT tenant_id, retention_days AS d FROM {table} ORDER BY tenant_id")
            assert [(r["tenant_id"], r["d"]) for r in got] == [(ACME, 90), (GLOBEX, 0)], table


def test_a_changed_default_retention_redates_the_rows_of_tenants_on_the_default(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        cp = ControlPlane(controlplane_url(tmp_path))
        cp.create_schema()
        with cp.session() as db:
            db.add(Tenant(id=ACME, name="acme"))  # the default
            db.add(Tenant(id=GLOBEX, name="globex", retention_days=90))
        stored = retention.Retention(cp, 30)
        retention.apply(ch, stored, rollup_days=1000)
        for tenant_id in (ACME, GLOBEX):
            Ingestor(ch, retention=stored.days).ingest(tenant_id, 1, wire.encode(days_ago(1)))

        def kept() -> list[tuple[int, int]]:
            got = ch.query("SELECT DISTINCT tenant_id, retention_days AS d FROM flows ORDER BY tenant_id")
            return [(r["tenant_id"], r["d"]) for r in got]
        assert kept() == [(ACME, 30), (GLOBEX, 90)]
        for default in (400, 400, 0, 7):  # starts with a new default, or the same
            retention.apply(ch, retention.Retention(cp, default), rollup_days=1000)
            assert kept() == [(ACME, default), (GLOBEX, 90)], default
        cp.close()


@pytest.mark.no_controlplane
def test_a_store_from_before_retention_is_rebuilt_without_losing_rows(tmp_path, monkeypatch):
    every = clickhouse.migrations()
    monkeypatch.setattr(clickhouse, "migrations", lambda: [m for m in every if m[0] < 14])
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        old = days_ago(1, long_flow=True)
        ingest = Ingestor(ch)
        for name in wire.TABLES:  # stored as the core did before: no interval, no retention
            table = with_keys(name, [(old, ACME, 1, 0)]).drop_columns(["interval_start", "retention_days"])
            ch.insert_arrow(name, table)
        marker = batch_rows([(old, ACME, 1)])  # only the columns the batches table had then
        had = {r["name"] for r in ch.query("SELECT name FROM system.columns WHERE database = currentDatabase()"
                                           " AND table = 'batches'")}
        ch.insert_arrow("batches", marker.select([c for c in marker.column_names if c in had]))
        before = {t: count(ch, t, ACME) for t in (*retention.RAW_TABLES, "pairs_1h", "traffic_1m")}
        monkeypatch.setattr(clickhouse, "migrations", lambda: every)
        assert ch.migrate() == [m[0] for m in every if m[0] >= 14]
        assert {t: count(ch, t, ACME) for t in before} == before
        assert ch.query("SELECT interval_start AS i FROM flows") == [{"i": old.interval_start}]
        assert not [r for r in ch.query("SELECT name FROM system.tables WHERE name LIKE '%_v2%'")]
        ingest.ingest(ACME, 1, wire.encode(days_ago(0.5)))  # the rollup views follow the new tables
        assert count(ch, "pairs_1h", ACME) == before["pairs_1h"] + 1
        assert count(ch, "flows", ACME) == before["flows"] + 1


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, list(args))


def test_setting_a_tenants_retention_redates_its_stored_rows(run, monkeypatch):
    monkeypatch.setattr(retention.Retention, "RELOAD_S", 0.0)  # no running core to wait for
    assert run("tenants", "add", "acme").exit_code == 0
    assert run("tenants", "add", "globex").exit_code == 0
    cfg = Settings()
    with ClickHouseStore(cfg.clickhouse_dsn) as ch:
        ch.migrate()
        for tenant_id in (ACME, GLOBEX):
            Ingestor(ch, retention=lambda t: 400).ingest(tenant_id, 1, wire.encode(days_ago(1)))
    r = run("tenants", "set", "acme", "--retention-days", "30")
    assert r.exit_code == 0, r.output
    assert run("tenants", "set", "acme", "--retention-days", "-1").exit_code == 2
    with ClickHouseStore(cfg.clickhouse_dsn) as ch:
        for table in retention.RAW_TABLES:
            got = ch.query(f"SELECT DISTINCT tenant_id, retention_days FROM {table} ORDER BY tenant_id")
            assert [(r["tenant_id"], r["retention_days"]) for r in got] == [(ACME, 30), (GLOBEX, 400)], table
    cp = ControlPlane(cfg.database_dsn)
    with cp.sessions() as db:
        assert db.get(Tenant, ACME).retention_days == 30
    cp.close()


@pytest.mark.no_controlplane
def test_a_batch_too_old_for_a_rows_retention_keeps_the_longest_it_can_say():
    ancient = NOW - timedelta(days=70_000)  # older than 65,535 days: UInt16 days cannot count to its arrival
    assert retention.days_kept(ancient, 400, now=NOW) == retention.MAX_DAYS
    assert retention.days_kept(NOW - timedelta(days=500), 400, now=NOW) == 501


@pytest.mark.no_controlplane
def test_a_retention_reaching_past_the_ttls_last_date_keeps_the_rows(tmp_path):
    """A row expires at its interval + its retention, a DateTime that ends in 2106: a retention reaching
    past it (``--retention-days`` takes up to 65,535) is cut at LAST_DAY, not wrapped to a past date that
    deletes the rows at the next merge (stored) or at once (re-dated)."""
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        assert Ingestor(ch, retention=lambda t: 40_000).ingest(ACME, 1, wire.encode(days_ago(1))).status == "stored"
        ch.command("OPTIMIZE TABLE flows FINAL")
        assert count(ch, "flows", ACME) == 1
        for days in (65_535, 40_000):
            retention.redate(ch, ACME, days)
            ch.command("OPTIMIZE TABLE flows FINAL")
            assert count(ch, "flows", ACME) == 1, days
        (row,) = ch.query("SELECT interval_start + toIntervalDay(retention_days) AS expiry FROM flows")
        assert row["expiry"].date() == retention.LAST_DAY.date()


def test_a_rollup_retention_reaching_past_the_ttls_last_date_keeps_the_rollups(tmp_path):
    """Rollups too: ``MIERUKA_RETENTION_ROLLUP_DAYS`` of 40,000 ends their rows' TTL on LAST_DAY, where an
    expiry past 2106 wrapped to 1997 (deleted at the first merge on ClickHouse versions that act on it)."""
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        assert Ingestor(ch, retention=lambda t: 400).ingest(ACME, 1, wire.encode(days_ago(1))).status == "stored"
        cp = ControlPlane(controlplane_url(tmp_path))
        cp.create_schema()
        retention.apply(ch, retention.Retention(cp, 400), rollup_days=40_000)
        cp.close()
        for table in ("traffic_1m", "pairs_1h", "pair_seen_all"):
            ch.command(f"OPTIMIZE TABLE {table} FINAL")
            (part,) = ch.query("SELECT count() AS n, min(delete_ttl_info_min) AS expiry FROM system.parts"
                               " WHERE active AND table = {t:String}", {"t": table})
            assert part["expiry"].date() == retention.LAST_DAY.date(), table
            assert count(ch, table, ACME) == 1, table


@pytest.mark.no_controlplane
def test_a_retention_change_reaches_the_rows_running_cores_stored_meanwhile(tmp_path):
    """A running core holds a tenant's retention up to Retention.RELOAD_S after ``tenants set`` changed it:
    what it stores meanwhile carries the old one (raised 400 -> 30 here, so those rows would outlive
    the setting) until the second re-date; a late batch arriving then keeps its day of grace."""
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as ch:
        ch.migrate()
        stale = Ingestor(ch, retention=lambda t: 400)  # a core that has not read the change yet
        assert stale.ingest(ACME, 1, wire.encode(days_ago(1))).status == "stored"

        def meanwhile():
            for days in (0.5, 35):  # the second is late for 30 days: its grace from now
                assert stale.ingest(ACME, 1, wire.encode(days_ago(days))).status == "stored"
        retention.redate_settled(ch, ACME, 30, current=lambda: 30, wait=meanwhile)
        late = retention.days_kept(days_ago(35).interval_start, 30)
        for table in retention.RAW_TABLES:
            got = ch.query(f"SELECT DISTINCT retention_days AS d FROM {table} ORDER BY d")
            assert [r["d"] for r in got] == [30, late], table
        # set again meanwhile (a second admin, a quick correction): that change's re-date stands
        retention.redate_settled(ch, ACME, 60, current=lambda: 400, wait=lambda: retention.redate(ch, ACME, 400))
        for table in retention.RAW_TABLES:
            assert ch.query(f"SELECT DISTINCT retention_days AS d FROM {table}") == [{"d": 400}], table
