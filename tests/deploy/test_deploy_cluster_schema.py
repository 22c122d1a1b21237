"""The ClickHouse schema on the production cluster (deploy/): what the migrations render for it is what
ClickHouse's replication docs ask for, every statement parses in ClickHouse itself, and the schema
they build — replayed in chDB with deploy/clickhouse/cluster.xml as its configuration — has a
Distributed twin with the same columns for every storage table. Inserts through the store on a
cluster are synchronous (exactly-once ingest counts on it)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from deploycluster import CLUSTER, CLUSTER_XML, statements

from core.store.clickhouse import ClickHouseStore

STATEMENTS = statements()
CREATE_LOCAL = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)_local ON CLUSTER `(\w+)`.*?ENGINE = (\w+)(?:\((.*?)\))?\s*(?:\n|$)",
                          re.S)


@pytest.fixture(scope="module")
def views(chdb, replayed) -> dict[str, tuple[set[str], str]]:
    """Each materialized view of the replayed schema: the tables whose inserts it sees, its target."""
    found: dict[str, tuple[set[str], str]] = {}
    for name, query in chdb.query("SELECT name, create_table_query FROM system.tables WHERE database = "
                                  "currentDatabase() AND engine = 'MaterializedView'").result_rows:
        found[name] = (set(), re.search(r" TO \w+\.(\w+) ", query).group(1))
    for source, dependents in chdb.query("SELECT name, dependencies_table FROM system.tables "
                                         "WHERE database = currentDatabase()").result_rows:
        for view in dependents:
            found[view][0].add(source)
    return found


def test_the_deploy_config_defines_the_cluster_chdb_runs_with(chdb):
    shards = chdb.query("SELECT shard_num, count() FROM system.clusters WHERE cluster = {c:String} "
                        "GROUP BY shard_num ORDER BY shard_num", {"c": CLUSTER}).result_rows
    assert shards == [(1, 2), (2, 2)]
    assert dict(chdb.query("SELECT macro, substitution FROM system.macros").result_rows) == {"shard": "01",
                                                                                              "replica": "ch-s1-r1"}


def test_every_rendered_statement_parses_in_clickhouse(chdb):
    with pytest.raises(DatabaseError, match="Syntax error"):  # the check can fail
        chdb.command("SELECT formatQuery({q:String})", {"q": "CREATE TABLE t ON CLUSTER `c` (a UInt8"})
    for statement in STATEMENTS:
        formatted = chdb.command("SELECT formatQuery({q:String})", {"q": statement})
        assert formatted.split()[:2] == statement.split()[:2]


def test_every_statement_but_inserts_runs_on_the_whole_cluster():
    ddl = [s for s in STATEMENTS if not s.startswith("INSERT")]
    assert ddl and all(f"ON CLUSTER `{CLUSTER}`" in s for s in ddl)
    # the rows a backfill INSERT writes go through the Distributed tables to every shard
    assert all(not re.search(r"INSERT INTO \w+_local", s) for s in STATEMENTS)


def test_every_storage_table_is_replicated_per_shard_and_replica():
    created = [m.groups() for s in STATEMENTS if (m := CREATE_LOCAL.match(s))]
    # a Null table holds no rows (what goes in only feeds its views): nothing to replicate
    assert {table for table, _, engine, _ in created if engine == "Null"} == {
        "explore_flow_values_in", "explore_event_values_in"}
    created = [c for c in created if c[2] != "Null"]
    assert len(created) >= 20
    for table, cluster, engine, args in created:
        assert cluster == CLUSTER
        assert re.fullmatch(r"Replicated\w*MergeTree", engine), table
        path, replica = re.match(r"'([^']*)', '([^']*)'", args).groups()
        # one Keeper path per shard and table ({table} is fixed at creation, so EXCHANGE and RENAME
        # keep it), one replica name per server
        assert "{shard}" in path and ("{uuid}" in path or "{table}" in path or table in path), path
        assert replica == "{replica}"
    # no storage table stays unreplicated, whatever its name
    assert not [s for s in STATEMENTS if re.search(r"ENGINE = (?!Replicated)\w*MergeTree", s)]


def test_views_read_and_write_local_tables(views):
    assert len(views) >= 7
    for view, (sources, target) in views.items():
        # each server's view sees the rows stored on that server and writes its rollup beside them
        assert sources and all(s.endswith("_local") for s in sources), view
        assert target.endswith("_local"), view


def test_every_storage_table_has_a_distributed_twin_with_its_columns(replayed):
    engines, columns = replayed
    local = [t for t in engines if t.endswith("_local")]
    assert len(local) >= 20
    for table in local:
        assert engines[table][0].endswith("MergeTree") or engines[table][0] == "Null"  # (Null: feeds views, holds no rows)
        twin = table.removesuffix("_local")
        assert re.match(rf"Distributed\('{CLUSTER}', '\w+', '{table}'(, |\))", engines[twin][1]), engines[twin]
        assert columns[twin] == columns[table], twin  # after every ALTER and EXCHANGE of the migrations
    # nothing else: queries read the Distributed tables, views fill the local ones
    others = {t for t, (engine, _) in engines.items() if engine not in ("Distributed", "MaterializedView")}
    assert others == set(local)


def test_inserts_through_a_cluster_store_are_synchronous(chdb, replayed):
    """On a cluster the store's inserts wait for the shards: with them out of reach an insert fails at
    once instead of being queued on the server's disk and acknowledged — which is what a client
    without the settings gets."""
    row = pa.table({"tenant_id": pa.array([1], pa.uint32()), "sensor_id": pa.array([2], pa.uint32()),
                    "batch_id": pa.array(["3f1f6f3e-0000-4000-8000-000000000001"]),
                    "generation": pa.array([0], pa.uint32()), "state": pa.array(["started"])})
    path = chdb.path
    with ClickHouseStore(f"chdb://{path}", CLUSTER) as store:
        assert store.client.command("SELECT getSetting('distributed_foreground_insert'), "
                                    "getSetting('insert_deduplicate')") == ["true", "true"]
        with pytest.raises(DatabaseError, match="Connection refused"):
            store.insert_arrow("ingest_intents", row, {"insert_deduplication_token": "1:2:3:0:ingest_intents"})
    queued = "SELECT sum(data_files) FROM system.distribution_queue WHERE table = 'ingest_intents'"
    assert chdb.command(queued) == 0
    chdb.insert_arrow("ingest_intents", row)  # background mode: accepted though no shard has it
    assert chdb.command(queued) == 1


def test_a_batch_and_its_rows_share_a_shard(replayed):
    """The raw tables, the commit marker and the attempt log are sharded alike, so a batch lives on one
    shard: one Keeper deduplication log sees every retry of it, and migration 014's join of raw rows to
    their batches runs shard by shard (distributed_product_mode = 'local')."""
    engines, _ = replayed
    keys = {t: re.search(r"'\w+_local', (.+)\)$", engines[t][1]).group(1)
            for t in ("flows", "events", "observations", "batches", "ingest_intents")}
    assert set(keys.values()) == {"sipHash64(tenant_id, sensor_id)"}, keys


def test_the_core_users_profile_holds_settings_clickhouse_knows(chdb):
    users = ET.parse(CLUSTER_XML.with_name("users.xml")).getroot()
    profile = users.find(f"profiles/{users.findtext('users/mieruka/profile')}")
    names = [setting.tag for setting in profile]
    known = {r[0] for r in chdb.query("SELECT name FROM system.settings WHERE name IN {n:Array(String)}",
                                      {"n": names}).result_rows}
    assert names and set(names) == known
