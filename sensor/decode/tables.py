"""Number → name tables the decoders read from ``data/`` (CSV: ``#`` comments, an ``id,name`` header)."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files


@cache
def id_names(table: str) -> dict[int, str]:
    """``data/{table}.csv`` as a dict (read once, on first use)."""
    with files("sensor.decode").joinpath(f"data/{table}.csv").open(encoding="utf-8") as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))
        next(rows)  # header: id,name
        return {int(number): name for number, name in rows}
