"""A tenant's own export (specs/rules.md "Backup/export"): every row it has, in open formats.

    OUT/manifest.json                 tenant, time, and per file its rows, bytes and SHA-256
    OUT/clickhouse/<table>.parquet    every ClickHouse table with a ``tenant_id`` (found in
                                      ``system.columns``, so a table added later is exported too)
    OUT/controlplane/<table>.parquet  the control-plane rows of the tenant (users, sensors,
                                      contracts, audit log, forwarding …), secrets left out
    OUT/…/<table>.csv                 beside the Parquet file of every table of at most CSV_MAX_ROWS
    OUT/<name>                        files the caller adds (the CLI adds the invoices)

Tables that merge rows (Replacing/Summing/AggregatingMergeTree) are read ``FINAL``: one row per key,
as every query of the core sees them; aggregate states are written as their values. Of a
SummingMergeTree only rows whose sums are not all zero are read: a merge drops the others (a batch taken
out: its rows and their negation), which ``FINAL`` alone may still count. Big tables are
read in time slices of at most about CHUNK_ROWS rows and written as Parquet row groups, so memory
stays bounded whatever the tenant's size, and other queries of the core run between slices.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine

from core.export.csvsafe import write_arrow_csv
from core.store.clickhouse import ClickHouseStore

CHUNK_ROWS = 200_000
CSV_MAX_ROWS = 100_000
SECRET_COLUMN = re.compile(r"hash|secret", re.IGNORECASE)  # password/token hashes, webhook keys
_MERGING = re.compile(r"(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)MergeTree")
_NUMBER = re.compile(r"U?Int\d+$|Float\d+$|Decimal")

Progress = Callable[[str, int], None]  # (table, rows written so far)


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the export directory
    rows: int
    bytes: int
    sha256: str


def export_tenant(ch: ClickHouseStore, controlplane: Engine, tenant_id: int, tenant_name: str, out: Path,
                  extra: dict[str, bytes] | None = None, progress: Progress | None = None) -> dict:
    """Write the tenant's export into ``out`` (created; must be empty) and return its manifest."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    files: list[ExportedFile] = []
    for table in ch.tenant_tables():
        files += _write(out, f"clickhouse/{table['name']}", _clickhouse_chunks(ch, table, tenant_id),
                        table["name"], progress)
    for name, chunks in _controlplane_chunks(controlplane, tenant_id):
        files += _write(out, f"controlplane/{name}", chunks, name, progress)
    for name, data in (extra or {}).items():
        (out / name).write_bytes(data)
        files.append(ExportedFile(name, -1, len(data), hashlib.sha256(data).hexdigest()))
    manifest = {"tenant": tenant_name, "tenant_id": tenant_id, "exported_at": datetime.now(UTC).isoformat(),
                "files": [asdict(f) for f in files]}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def row_counts(ch: ClickHouseStore, tenant_id: int) -> dict[str, int]:
    """The tenant's rows per ClickHouse table, counted as the export reads them."""
    return {t["name"]: ch.query(f"SELECT count() AS n FROM {t['name']}{final(t)} WHERE tenant_id = {{t:UInt32}}"
                                + nonzero(t), {"t": tenant_id})[0]["n"] for t in ch.tenant_tables()}


# -- ClickHouse ---------------------------------------------------------------------------------

def final(table: dict) -> str:
    """`` FINAL`` for a table that merges rows (one row per key, as the core's queries see it)."""
    return " FINAL" if _MERGING.search(table["engine"]) else ""


def nonzero(table: dict) -> str:
    """`` AND …``: the rows whose sums are not all zero — of a SummingMergeTree, its numeric columns
    outside the key, as ClickHouse sums them (the rows a merge keeps); of an AggregatingMergeTree, its
    ``SimpleAggregateFunction(sum, …)`` columns (a pair a take-out cancelled stays there with zero sums,
    which no merge drops); else nothing."""
    columns = table["columns"].items()
    if "SummingMergeTree" in table["engine"]:
        key = set(re.findall(r"\w+", table["sorting_key"]))
        sums = [name for name, kind in columns if name not in key and _NUMBER.match(kind)]
    elif "AggregatingMergeTree" in table["engine"]:
        sums = [name for name, kind in columns if kind.startswith("SimpleAggregateFunction(sum,")]
    else:
        sums = []
    return " AND (" + " OR ".join(f"`{name}` != 0" for name in sums) + ")" if sums else ""


def select_list(columns: dict[str, str]) -> str:
    """The columns as plain values: aggregate states finalised, UUIDs as text."""
    def one(name: str, kind: str) -> str:
        quoted = f"`{name}`"
        if kind.startswith("AggregateFunction("):
            return f"finalizeAggregation({quoted}) AS {quoted}"
        if kind in ("UUID", "Nullable(UUID)"):
            return f"toString({quoted}) AS {quoted}"
        return quoted
    return ", ".join(one(n, k) for n, k in columns.items())


def _time_column(table: dict) -> str | None:
    """A DateTime column of the sorting key: what the table is sliced by."""
    for token in re.findall(r"\w+", table["sorting_key"]):
        if table["columns"].get(token, "").startswith(("DateTime", "Date")):
            return token
    return None


def _clickhouse_chunks(ch: ClickHouseStore, table: dict, tenant_id: int) -> Iterator[pa.Table]:
    base = (f"SELECT {select_list(table['columns'])} FROM {table['name']}{final(table)} WHERE tenant_id = {{t:UInt32}}"
            + nonzero(table))
    params = {"t": tenant_id}
    column = _time_column(table)
    if column is None:
        yield _arrow(ch, base, params)
        return
    hours = ch.query(f"SELECT toStartOfHour(toDateTime(`{column}`)) AS h, count() AS n FROM {table['name']}{final(table)} "
                     "WHERE tenant_id = {t:UInt32}" + nonzero(table) + " GROUP BY h ORDER BY h", params)
    if not hours:
        yield _arrow(ch, base + " AND 0", params)
    for start, end in _slices(hours):
        yield _arrow(ch, base + f" AND `{column}` >= {{a:DateTime}} AND `{column}` < {{b:DateTime}}",
                     params | {"a": start, "b": end})


def _slices(hours: list[dict]) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive runs of hours holding at most about CHUNK_ROWS rows (an hour never split)."""
    start, rows = None, 0
    for i, hour in enumerate(hours):
        if start is None:
            start = hour["h"]
        rows += hour["n"]
        last = i == len(hours) - 1
        if last or rows + hours[i + 1]["n"] > CHUNK_ROWS:
            end = hour["h"].timestamp() + 3600
            yield start, datetime.fromtimestamp(end, UTC)
            start, rows = None, 0


def _arrow(ch: ClickHouseStore, sql: str, params: dict) -> pa.Table:
    return ch.client.query_arrow(sql, parameters=params, use_strings=True)


# -- control plane ------------------------------------------------------------------------------

def _controlplane_chunks(engine: Engine, tenant_id: int) -> Iterator[tuple[str, Iterator[pa.Table]]]:
    """Per control-plane table with a ``tenant_id`` (and the tenant's own row), its rows in chunks."""
    meta = MetaData()
    meta.reflect(engine)
    for table in meta.sorted_tables:
        if table.name == "tenants":
            where = table.c.id == tenant_id
        elif "tenant_id" in table.c:
            where = table.c.tenant_id == tenant_id
        else:
            continue
        columns = [c for c in table.c if not SECRET_COLUMN.search(c.name)]
        yield table.name, _rows(engine, select(*columns).where(where).order_by(*table.primary_key.columns))


def _rows(engine: Engine, query) -> Iterator[pa.Table]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        names = list(result.keys())
        yielded = False
        for part in result.partitions():
            yielded = True
            yield pa.Table.from_pylist([{n: _plain(v) for n, v in zip(names, row)} for row in part])
        if not yielded:
            yield pa.Table.from_pylist([], schema=pa.schema([(n, pa.string()) for n in names]))


def _plain(value: object) -> object:
    return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else value


# -- files --------------------------------------------------------------------------------------

def _write(out: Path, stem: str, chunks: Iterator[pa.Table], label: str, progress: Progress | None
           ) -> list[ExportedFile]:
    path = out / f"{stem}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer, rows = None, 0
    try:
        for chunk in chunks:
            if writer is None:
                writer = pq.ParquetWriter(path, chunk.schema, compression="zstd")
            writer.write_table(chunk.cast(writer.schema) if chunk.schema != writer.schema else chunk)
            rows += chunk.num_rows
            if progress:
                progress(label, rows)
    finally:
        if writer is not None:
            writer.close()
    written = [_described(out, path, rows)]
    if rows <= CSV_MAX_ROWS:
        csv_path = out / f"{stem}.csv"
        write_arrow_csv(pq.read_table(path), csv_path)
        written.append(_described(out, csv_path, rows))
    return written


def _described(out: Path, path: Path, rows: int) -> ExportedFile:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return ExportedFile(str(path.relative_to(out)), rows, path.stat().st_size, digest.hexdigest())


def zipped(directory: Path, target: Path) -> Path:
    """The export directory as one ZIP file (Parquet stored as it is, text files deflated)."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            method = zipfile.ZIP_STORED if path.suffix == ".parquet" else zipfile.ZIP_DEFLATED
            archive.write(path, path.relative_to(directory), compress_type=method)
    return target
