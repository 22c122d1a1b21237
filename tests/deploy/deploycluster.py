"""The deploy's ClickHouse cluster in process, for tests: chDB configured with
deploy/clickhouse/cluster.xml (its cluster, shards, replicas and macros), each server's address
replaced by one that refuses connections at once (no name lookups, which may stall for seconds),
and the cluster DDL of the migrations replayed without Keeper."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from core.store.clickhouse import _BOOTSTRAP, migrations, render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER_XML = DEPLOY / "clickhouse" / "cluster.xml"
CLUSTER = ET.parse(CLUSTER_XML).find("remote_servers")[0].tag  # the one cluster the deploy defines
# the values cluster.xml takes from each server's environment (docker-compose.yml)
NODE_ENV = {"CLICKHOUSE_SHARD": "01", "CLICKHOUSE_REPLICA": "ch-s1-r1", "CLICKHOUSE_CLUSTER_SECRET": "s",
            "CLICKHOUSE_INTERSERVER_PASSWORD": "p"}
REFUSED = ("127.0.0.1", "1")  # nothing listens on port 1


def statements() -> list[str]:
    """Every statement the migrations render for the deploy's cluster, bootstrap first."""
    return [s for sql in (_BOOTSTRAP, *(sql for _, _, sql in migrations())) for s in render(sql, CLUSTER)]


def connect(workdir: Path) -> Client:
    """A chDB client whose configuration is the deploy's cluster file with unreachable servers (call
    with NODE_ENV in the environment)."""
    tree = ET.parse(CLUSTER_XML)
    for replica in tree.getroot().find("remote_servers").iter("replica"):
        replica.find("host").text, replica.find("port").text = REFUSED
    config = workdir / "cluster.xml"
    tree.write(config)
    return clickhouse_connect.get_client(dsn=f"chdb://{workdir / 'data'}", chdb_options={"config-file": str(config)})


def replay(client: Client) -> None:
    """Apply every rendered DDL statement in order as each server would, less Keeper: ON CLUSTER
    dropped, Replicated engines made plain. The backfill INSERTs, which read the shards, are left out."""
    for statement in statements():
        if not statement.startswith("INSERT"):
            client.command(re.sub(r"Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?", r"\1(",
                                  statement.replace(f" ON CLUSTER `{CLUSTER}`", "")))
