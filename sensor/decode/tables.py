"""The decoders' data files (``data/``), and the number → name tables among them (CSV: ``#`` comments, an
``id,name`` header)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import TextIO

DATA = Path(__file__).resolve().parent / "data"  # (a path, not importlib.resources: ~5 ms of every start)


def data_file(name: str) -> TextIO:
    """``data/{name}`` opened as text."""
    return (DATA / name).open(encoding="utf-8")


@cache
def id_names(table: str) -> dict[int, str]:
    """``data/{table}.csv`` as a dict (read once, on first use)."""
    with data_file(f"{table}.csv") as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))
        next(rows)  # header: id,name
        return {int(number): name for number, name in rows}
