"""Schema migrations of the control plane (Alembic; the environment and revisions in cpmigrations/).

``upgrade`` brings a database to the newest revision: an empty one from scratch, one at an older
revision step by step, and one made before migrations existed (the models' ``create_all`` plus added
columns, no ``alembic_version``) by first giving it what the baseline has and it lacks (tables, nullable
columns, indexes), then stamping it with the baseline. On PostgreSQL an advisory lock serialises
processes that start at once; the loser waits, then finds the database up to date.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text
from sqlalchemy.schema import CreateIndex

SCRIPTS = Path(__file__).with_name("cpmigrations")
BASELINE = "0001"
# pg_advisory_xact_lock key: any constant the control plane's database uses for nothing else.
LOCK_KEY = 0x6D69_6572_756B_61  # "mieruka"


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (an installed wheel has no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    return scripts().get_current_head()


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Migrate to the newest revision in one transaction; returns it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        if current(conn) == head():
            return head()
        cfg = config(conn)
        if _made_before_migrations(conn):
            _complete(conn, scripts().get_revision(BASELINE).module.schema())
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        return current(conn)


def _made_before_migrations(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "alembic_version" not in tables and "tenants" in tables


def _complete(conn: Connection, baseline: MetaData) -> None:
    """Give a database made before migrations what the baseline has and it lacks.

    Its tables may predate columns (always nullable: rows written before them stay valid), tables and
    the indexes made with them; nothing is dropped or changed.
    """
    baseline.create_all(conn)  # tables it lacks, with their indexes
    inspector = inspect(conn)
    for table in baseline.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"cannot add NOT NULL column {table.name}.{column.name}")
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                conn.execute(CreateIndex(index))
