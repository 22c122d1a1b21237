"""ClickHouse access (clickhouse-connect only) and the schema migrations in ``migrations/``.

One ``ClickHouseStore`` holds one client. With a ``chdb://<dir>`` DSN the engine runs in-process:
chdb hosts one data directory per process, clients on that directory share it, and another
directory can be opened only after every client is closed — so keep one store per process and
close it. ``http(s)://host:8123/db`` talks to a server with no code change.

Migrations are numbered ``NNN_name.sql`` files, applied in order once each and recorded in
``schema_migrations``. They are templates so the same files build a single node or a cluster:

    {{ON_CLUSTER}}        ``ON CLUSTER `c``` on a cluster, else nothing
    {{TABLE name}}        the storage table: ``name`` or, on a cluster, ``name_local``
    {{ENGINE E(args)}}    ``E(args)`` or ``ReplicatedE('<zk path>', '{replica}', args)``
    {{DISTRIBUTED name [shard key]}}
                          on a cluster, the ``Distributed`` table ``name`` over ``name_local``
    {{ALTER name}} …;     ``ALTER TABLE name …``; on a cluster, of ``name_local`` and then of the
                          Distributed ``name``, both ``ON CLUSTER``

Queries always use the plain name, which is the data itself or the Distributed table over it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client

# The client is shared by concurrent requests, so no HTTP session (which serialises queries).
clickhouse_connect.common.set_setting("autogenerate_session_id", False)

REPLICA_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
# Sent with every request on a cluster, where rows go in through Distributed tables: an INSERT returns
# once every shard has stored its rows (not queued on one server's disk to be sent later), and each
# shard's Replicated table drops a block whose deduplication token it has seen — what exactly-once
# ingest (core/ingest) counts on. deploy/clickhouse/users.xml sets the same in the user's profile.
CLUSTER_SETTINGS = {"distributed_foreground_insert": 1, "insert_deduplicate": 1}
_MARKER = re.compile(r"\{\{(\w+)(?: ([^}]*))?\}\}")
_ENGINE = re.compile(r"(\w+)(?:\((.*)\))?$")
_MIGRATION_FILE = re.compile(r"(\d+)_(\w+)\.sql$")
_ALTER = re.compile(r"\{\{ALTER (\w+)\}\}([^;]*);")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS {{TABLE schema_migrations}} {{ON_CLUSTER}}
(version UInt32, name String, applied_at DateTime('UTC') DEFAULT now())
ENGINE = {{ENGINE ReplacingMergeTree}} ORDER BY version;
{{DISTRIBUTED schema_migrations}};
"""


def render(sql: str, cluster: str | None = None) -> list[str]:
    """Expand the template markers and split into statements (comment lines dropped)."""

    def expand(m: re.Match) -> str:
        kind, arg = m.group(1), (m.group(2) or "").strip()
        if kind == "ON_CLUSTER":
            return f"ON CLUSTER {quote_identifier(cluster)}" if cluster else ""
        if kind == "TABLE":
            return f"{arg}_local" if cluster else arg
        if kind == "ENGINE":
            name, args = _ENGINE.match(arg).groups()
            if not cluster:
                return arg
            return f"Replicated{name}({', '.join(filter(None, [REPLICA_PATH, args]))})"
        if kind == "DISTRIBUTED":
            if not cluster:
                return ""
            table, _, shard_key = arg.partition(" ")
            c = quote_identifier(cluster)
            return (
                f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {c} AS {table}_local "
                f"ENGINE = Distributed({c}, currentDatabase(), {table}_local, {shard_key or 'rand()'})"
            )
        raise ValueError(f"unknown migration marker {m.group(0)}")

    def alter(m: re.Match) -> str:
        table, clause = m.groups()
        if not cluster:
            return f"ALTER TABLE {table}{clause};"
        return "".join(f"ALTER TABLE {t} {{{{ON_CLUSTER}}}}{clause};" for t in (f"{table}_local", table))

    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    text = _MARKER.sub(expand, _ALTER.sub(alter, "\n".join(lines)))
    return [s.strip() for s in text.split(";") if s.strip()]


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for entry in resources.files("core.store.migrations").iterdir():
        if m := _MIGRATION_FILE.match(entry.name):
            found.append((int(m.group(1)), m.group(2), entry.read_text()))
    return sorted(found)


def split_database(dsn: str) -> tuple[str, str | None]:
    """Split the database out of a DSN: ``http://h:8123/db`` or ``chdb:///dir?database=db``."""
    url = urlparse(dsn)
    query = parse_qs(url.query)
    database = query.pop("database", [None])[0]
    path = url.path
    if url.scheme in ("http", "https") and path.strip("/"):
        database, path = path.strip("/"), ""
    rest = urlencode({k: v[0] for k, v in query.items()})
    # Built by hand: urlunparse drops the "//" of an empty netloc (chdb:///dir).
    return f"{url.scheme}://{url.netloc}{path}" + (f"?{rest}" if rest else ""), database


class ClickHouseStore:
    def __init__(self, dsn: str, cluster: str | None = None):
        self.dsn = dsn
        self.cluster = cluster
        self._client: Client | None = None
        self._column_types: dict[tuple[str, tuple[str, ...]], list] = {}  # insert_rows's, per table and columns
        self.observe: Callable[[str, float], None] | None = None  # (kind, seconds) of each call: metrics

    # -- lifetime ---------------------------------------------------------------------------

    def open(self) -> ClickHouseStore:
        server_dsn, database = split_database(self.dsn)
        if (
            database
        ):  # a database named in the DSN must exist before a client can use it
            boot = self._connect(server_dsn)
            try:
                boot.command(
                    f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} {self.on_cluster}"
                )
            finally:
                boot.close()
        self._client = self._connect(server_dsn, database)
        return self

    def _connect(self, dsn: str, database: str | None = None) -> Client:
        return clickhouse_connect.get_client(
            dsn=dsn, database=database, tz_mode="aware", settings=CLUSTER_SETTINGS if self.cluster else None
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ClickHouseStore:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("ClickHouseStore is not open")
        return self._client

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER {quote_identifier(self.cluster)}" if self.cluster else ""

    def local(self, table: str) -> str:
        """The table that holds the rows (for DELETE), as opposed to the one queries read."""
        return f"{table}_local" if self.cluster else table

    # -- statements -------------------------------------------------------------------------

    @contextmanager
    def _timed(self, kind: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            if self.observe:
                self.observe(kind, time.perf_counter() - began)

    def query(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._timed("query"):
            return list(self.client.query(sql, parameters=params or {}).named_results())

    def command(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        settings: dict | None = None,
    ):
        with self._timed("command"):
            return self.client.command(sql, parameters=params or {}, settings=settings or {})

    def insert_arrow(
        self, table: str, data: pa.Table, settings: dict | None = None
    ) -> None:
        with self._timed("insert"):
            self.client.insert_arrow(table, data, settings=settings or {})

    def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert dict rows (all with the same keys). The columns' types are asked once per table
        and set of columns (a query less per insert)."""
        if not rows:
            return
        names = tuple(rows[0])
        types = self._column_types.get((table, names))
        if types is None:
            types = self.client.create_insert_context(table, list(names)).column_types
            self._column_types[(table, names)] = types
        with self._timed("insert"):
            self.client.insert(table, [[r[n] for n in names] for r in rows], column_names=list(names),
                               column_types=types)

    def tenant_tables(self) -> list[dict]:
        """Every table that holds rows per tenant (a ``tenant_id`` column), by the name queries use,
        with its engine, sorting key and columns (name → type). Views are left out (their rows live
        in their target tables), and Null tables (they pass rows to views and hold none); on a cluster
        the Distributed table stands for its ``_local`` one (whose engine and key are given)."""
        tables = {r["name"]: r for r in self.query(
            "SELECT name, engine, sorting_key FROM system.tables WHERE database = currentDatabase() "
            "AND engine NOT IN ('View', 'MaterializedView', 'LiveView', 'WindowView')")}
        columns: dict[str, dict[str, str]] = {}
        for r in self.query("SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
                            "ORDER BY table, position"):
            columns.setdefault(r["table"], {})[r["name"]] = r["type"]
        out = []
        for name, table in sorted(tables.items()):
            if "tenant_id" not in columns.get(name, {}):
                continue
            if name.endswith("_local") and tables.get(name[:-6], {}).get("engine") == "Distributed":
                continue
            local = tables.get(f"{name}_local") if table["engine"] == "Distributed" else None
            shown = {k: (local or table)[k] for k in ("engine", "sorting_key")}  # the data's engine and key
            if shown["engine"] == "Null":
                continue
            out.append({"name": name, **shown, "columns": columns[name]})
        return out

    def delete_tenant_rows(self, table: str, tenant_id: int) -> None:
        """Delete a tenant's rows of ``table`` (a name from ``tenant_tables``) on every replica, and
        wait until they are gone."""
        target = f"{table}_local {self.on_cluster}" if self.cluster else table
        self.command(f"ALTER TABLE {target} DELETE WHERE tenant_id = {{t:UInt32}}", {"t": tenant_id},
                     settings={"mutations_sync": 2})

    def ping(self) -> bool:
        return self.client.command("SELECT 1") == 1

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied now."""
        for statement in render(_BOOTSTRAP, self.cluster):
            self.command(statement)
        done = {
            r["version"] for r in self.query("SELECT version FROM schema_migrations")
        }
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            for statement in render(sql, self.cluster):
                self.command(statement)
            self.command(
                "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                {"v": version, "n": name},
            )
            applied.append(version)
        self._column_types.clear()  # the tables may have changed
        return applied
