"""CSV files safe to open in a spreadsheet: the one writer of every CSV the core and dashboard serve.

Text from the network (a DHCP hostname, a tag) can be ``=HYPERLINK(...)``; a spreadsheet would run
it. OWASP's rule: a text cell starting with ``= + - @``, tab or carriage return gets a leading
single quote, so it is shown as text. Cells that start with whitespace before such a character are
treated alike (spreadsheets may trim it). Only strings are touched: numbers, negative ones included,
stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: object) -> object:
    """``value`` as a spreadsheet shows it literally."""
    if isinstance(value, str) and (value.startswith(FORMULA_START) or value.lstrip().startswith(FORMULA_START)):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """A header of ``columns``, then one line per row (missing keys empty, unknown keys an error)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows({k: neutral(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def csv_chunks(columns: Sequence[str], rows: Iterable[Sequence[object]], every: int = 1000) -> Iterator[str]:
    """``csv_text`` for a stream: a header, then the rows (neutralised cells), ``every`` rows a chunk."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for i, row in enumerate(rows, start=1):
        writer.writerow([neutral(v) for v in row])
        if i % every == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def write_arrow_csv(table: pa.Table, path: Path) -> None:
    """``table`` as a CSV file, with the same neutralised text cells as ``csv_text``, column-wise:
    nested values (lists, maps) as JSON, times in ISO 8601."""
    columns = []
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_list(kind) or pa.types.is_map(kind) or pa.types.is_struct(kind):
            column = pa.array([None if v is None else json.dumps(dict(v) if pa.types.is_map(kind) else v,
                                                                  ensure_ascii=False, default=str)
                               for v in column.to_pylist()], pa.string())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = _neutral_column(column)
        columns.append(column)
    pacsv.write_csv(pa.table(columns, names=table.column_names), path)


def _neutral_column(column):
    trimmed = pc.utf8_ltrim_whitespace(column)
    risky = None
    for start in FORMULA_START:
        hit = pc.or_(pc.starts_with(column, start), pc.starts_with(trimmed, start))
        risky = hit if risky is None else pc.or_(risky, hit)
    return pc.if_else(pc.fill_null(risky, False), pc.binary_join_element_wise("'", column, ""), column)
