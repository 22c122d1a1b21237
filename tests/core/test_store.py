"""ClickHouse schema: migrations (idempotent, templated for clusters) and DSN handling."""

from __future__ import annotations

import re

import pytest

from core.store.clickhouse import ClickHouseStore, migrations, render, split_database

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

ROLLUPS = {
    "traffic_1m",
    "traffic_1m_mv",
    "pairs_1h",
    "pairs_1h_mv",
    "asset_facts",
    "asset_facts_mv",
}
RAW = {"flows", "events", "observations", "batches", "schema_migrations", "asset_annotations"}
RETENTION = {"retention_default"}  # the default raw retention each start applied (migration 022)
RISK = {"risk_daily"}
REPORT = {"insecure_use_1h", "insecure_use_1h_mv"}  # the assessment report's insecure use per hour
INGEST = {"ingest_intents"}  # each attempt to store a batch (exactly-once ingest)
DETECTION = {"detect_baseline", "detect_learning", "indicators", "alerts", "alert_comments"}
VULNS = {"advisories", "advisory_products", "advisory_vulns"}
LEDGER = {f"{t}{mv}" for t in ("asset_seen_1h", "asset_fact_values", "pair_seen_1h", "event_actions_1h")
          for mv in ("", "_mv")}
# the ledger's state per day and for all time, pairs per day (migration 018, core/analytics/spans.py)
SPANS = {f"{t}{mv}" for t in ("pair_seen_1d", "pair_seen_all", "asset_seen_1d", "asset_seen_all", "event_actions_1d",
                              "event_actions_all", "pairs_1d") for mv in ("", "_mv")}
# the explorer's records per minute and batch, its timeline and count (migration 025, core/analytics/explore.py)
EXPLORE = {f"explore_{kind}_1m{mv}" for kind in ("flows", "events") for mv in ("", "_mv")} | {
    f"explore_{kind}_values_{table}{mv}" for kind in ("flow", "event") for table in ("in", "1h", "batches")
    for mv in ("", "_mv")}
# what can change a tenant's results, counted per writer (migration 021, core/store/tenant_changes.py)
CHANGES = {"tenant_changes", *(f"tenant_changes_{w}_mv" for w in (
    "batches", "intents", "annotations", "alerts", "comments", "indicators", "baseline", "learning", "risk", "advisories"))}


def tables(store: ClickHouseStore) -> set[str]:
    return {
        r["name"]
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
        )
    }


def test_migrations_apply_once_and_are_idempotent(tmp_path):
    versions = [v for v, _, _ in migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as store:
        assert store.migrate() == versions
        assert store.migrate() == []
        assert tables(store) == RAW | ROLLUPS | DETECTION | VULNS | LEDGER | RISK | REPORT | INGEST | SPANS | CHANGES | RETENTION | EXPLORE
        engines = {
            r["name"]: r["engine"]
            for r in store.query(
                "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
            )
        }
        assert engines["traffic_1m_mv"] == "MaterializedView"
        assert engines["traffic_1m"] == "SummingMergeTree"
        assert engines["asset_facts"] == "AggregatingMergeTree"
    # Reopening the same data dir finds everything applied.
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as store:
        assert store.migrate() == []
        assert store.query("SELECT count() AS n FROM schema_migrations")[0]["n"] == len(
            versions
        )


def test_raw_tables_are_ordered_partitioned_and_compressed(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as store:
        store.migrate()
        [flows] = store.query(
            "SELECT sorting_key, partition_key FROM system.tables WHERE name = 'flows' AND database = currentDatabase()"
        )
        # by the batch's interval, which moves with the data (a long connection's start does not)
        assert flows["sorting_key"].startswith(
            "tenant_id, sensor_id, toStartOfFiveMinutes(interval_start)"
        )
        assert flows["partition_key"] == "toYYYYMM(interval_start)"
        assert "TTL toDateTime(interval_start) + toIntervalDay(retention_days) WHERE retention_days > 0" in \
            store.command("SHOW CREATE TABLE flows")
        columns = {
            r["name"]: r
            for r in store.query(
                "SELECT name, type, compression_codec FROM system.columns WHERE table = 'flows' AND database = currentDatabase()"
            )
        }
        assert columns["service"]["type"] == "LowCardinality(String)"
        assert "T64" in columns["orig_bytes"]["compression_codec"]
        assert "Delta" in columns["ts"]["compression_codec"]


def test_every_table_a_view_fills_drops_a_block_it_saw_before(tmp_path):
    """A resent block is dropped by its deduplication token only where the table keeps a window:
    every view's target, the raw tables and the commit marker (a table added later included)."""
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as store:
        store.migrate()
        views = store.query("SELECT create_table_query AS q FROM system.tables WHERE engine = 'MaterializedView' "
                            "AND database = currentDatabase()")
        targets = {re.search(r" TO \w+\.(\w+)", v["q"]).group(1) for v in views}
        assert {"pairs_1h", "traffic_1m", "asset_facts", "event_actions_1h"} <= targets
        for table in targets | {"flows", "events", "observations", "batches"}:
            shown = store.command(f"SHOW CREATE TABLE {table}")
            # a Null table keeps no block: its views' targets drop a resent one
            assert "non_replicated_deduplication_window = 1000" in shown or shown.endswith("ENGINE = `Null`"), table


def test_database_named_in_dsn_is_created(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch?database=mieruka_test") as store:
        store.migrate()
        assert store.query("SELECT currentDatabase() AS db")[0]["db"] == "mieruka_test"
        assert "flows" in tables(store)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "http://user:pw@ch.example:8123/mieruka",
            ("http://user:pw@ch.example:8123", "mieruka"),
        ),
        ("https://ch.example:8443/", ("https://ch.example:8443/", None)),
        (
            "chdb:///var/lib/mieruka/clickhouse",
            ("chdb:///var/lib/mieruka/clickhouse", None),
        ),
        ("chdb:///data/ch?database=t1", ("chdb:///data/ch", "t1")),
    ],
)
def test_split_database(dsn, expected):
    assert split_database(dsn) == expected


def _all_statements(cluster):
    return [s for _, _, sql in migrations() for s in render(sql, cluster)]


def test_single_node_rendering_has_no_cluster_parts():
    statements = _all_statements(None)
    text = "\n".join(statements)
    assert "{{" not in text and "ON CLUSTER" not in text and "Replicated" not in text
    assert "Distributed" not in text and "_local" not in text
    assert all(s.startswith(("CREATE", "ALTER TABLE ", "INSERT INTO ", "EXCHANGE TABLES ", "DROP TABLE IF EXISTS ",
                             "DROP VIEW IF EXISTS ", "TRUNCATE TABLE IF EXISTS "))
               for s in statements)


def test_cluster_rendering_alters_storage_then_distributed_table():
    columns = [s for s in _all_statements("prod") if s.startswith("ALTER") and " COLUMN " in s]
    alters = [s.split(" ON ")[0] for s in columns]
    assert alters[:4] == ["ALTER TABLE events_local", "ALTER TABLE events",
                          "ALTER TABLE batches_local", "ALTER TABLE batches"]
    assert alters[::2] == [f"{a}_local" for a in alters[1::2]]  # each storage table, then its Distributed one
    assert all("ON CLUSTER `prod` " in s for s in columns)
    settings = [s for s in _all_statements("prod") if s.startswith("ALTER") and " COLUMN " not in s]
    # settings and skip indexes belong to the storage tables only
    assert settings and all(re.match(r"ALTER TABLE \w+_local ON CLUSTER `prod` (MODIFY SETTING|ADD INDEX|MATERIALIZE INDEX) ",
                                     s) for s in settings)


def test_cluster_rendering_uses_replicated_and_distributed_tables():
    statements = _all_statements("prod")
    assert "{{" not in "\n".join(statements)
    # an INSERT has no ON CLUSTER: it writes through the Distributed tables to every shard
    assert all("ON CLUSTER `prod`" in s for s in statements if not s.startswith("INSERT"))
    local = [
        s for s in statements if re.match(r"CREATE TABLE IF NOT EXISTS \w+_local", s)
    ]
    distributed = [s for s in statements if "ENGINE = Distributed" in s]
    assert {re.search(r"EXISTS (\w+)_local", s).group(1) for s in local} == {
        re.search(r"EXISTS (\w+) ", s).group(1) for s in distributed
    }
    for s in (s for s in local if not s.endswith("ENGINE = Null")):  # (a Null table passes rows to its views)
        assert "ENGINE = Replicated" in s
        assert "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in s
    summing = next(s for s in local if "traffic_1m_local" in s)
    assert (
        "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', (bytes, packets, flows))"
        in summing
    )
    flows = next(s for s in distributed if "EXISTS flows " in s)
    assert (
        "Distributed(`prod`, currentDatabase(), flows_local, sipHash64(tenant_id, sensor_id))"
        in flows
    )
    mv = next(
        s for s in statements if "MATERIALIZED VIEW IF NOT EXISTS traffic_1m_mv" in s
    )
    assert "TO traffic_1m_local" in mv and "FROM flows_local" in mv


def test_unknown_marker_is_an_error():
    with pytest.raises(ValueError, match="unknown migration marker"):
        render("CREATE TABLE {{NOPE x}} (a UInt8)")
