"""The data team's statistics file: rows of core.stats in Parquet (its parameters and suppression
counts also as JSON in the schema's metadata, key ``mieruka.stats``) or CSV (spreadsheet-safe)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.export.csvsafe import csv_text

FORMATS = (".parquet", ".csv")
SCHEMA = pa.schema([("period", pa.string()), ("table", pa.string()), ("group", pa.string()),
                    ("label", pa.string()), ("sites", pa.int64()), ("devices", pa.int64()),
                    ("measure", pa.string()), ("value", pa.float64())])
METADATA_KEY = b"mieruka.stats"


def stats_bytes(rows: Sequence[Mapping], fmt: str, metadata: Mapping) -> bytes:
    """The file's bytes in ``fmt`` (``.parquet`` or ``.csv``)."""
    if fmt == ".csv":
        return csv_text(SCHEMA.names, rows).encode()
    if fmt != ".parquet":
        raise ValueError(f"the format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    table = pa.Table.from_pylist(list(rows), schema=SCHEMA).replace_schema_metadata(
        {METADATA_KEY: json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_stats(path: Path, rows: Sequence[Mapping], metadata: Mapping) -> int:
    """Write the file its extension names; returns its size."""
    data = stats_bytes(rows, path.suffix.lower(), metadata)
    path.write_bytes(data)
    return len(data)
