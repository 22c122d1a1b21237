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
from collections.abc import Iterable, Mapping, Sequence

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
