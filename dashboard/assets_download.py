"""The asset ledger's download as the page shows it: the page's columns and cell texts in its
language, times in the display zone, for a person opening it in a spreadsheet. Machines use the
API's ``/api/v1/assets.csv`` (internal keys, UTC, no BOM).

Excel opens a CSV as UTF-8 only when it starts with a byte-order mark, so the download offers both:
``excel`` (UTF-8 with BOM) and ``utf8`` (plain, for other tools)."""

from __future__ import annotations

from core.export.csvsafe import csv_text
from dashboard.i18n import N_, Translator

N_("csv_excel"), N_("csv_utf8")  # assets.html: the two download links, "csv_" ~ encoding
EMPTY = "–"  # what the page shows for a role or importance not set


def _protocols(asset: dict, t: Translator) -> str:
    """"提供 modbus s7 利用 dns": each side's label, then its protocols, as the cell reads."""
    sides = (("protocols_served", asset["protocols_served"]), ("protocols_used", asset["protocols_used"]))
    return " ".join(f"{t(label)} {' '.join(values)}" for label, values in sides if values)


def _cells(asset: dict, t: Translator) -> list[str]:
    """One table row's texts, column by column (dashboard.assets.COLUMNS' order)."""
    return [
        asset["ip"] or asset["device"],
        asset["mac"],
        asset["role_label"] if asset["role"] else EMPTY,
        str(asset["risk"]),
        asset["vendor"],
        asset["hostname"],
        f"{asset['model']} {asset['firmware']}".strip(),
        _protocols(asset, t),
        ", ".join(map(str, asset["vlans"])),
        t(f"auth_{asset['authorized']}"),
        t(f"importance_{asset['importance']}") if asset["importance"] else EMPTY,
        " ".join(asset["tags"]),
        asset["first_seen"],
        asset["last_seen"],
    ]


def page_csv(context: dict, t: Translator, encoding: str) -> bytes:
    """``dashboard.assets.list_context``'s table as CSV bytes (formulas neutralised), with a BOM for ``excel``."""
    header = [c["label"] for c in context["columns"]]
    rows = (dict(zip(header, _cells(a, t), strict=True)) for a in context["assets"])
    return csv_text(header, rows).encode("utf-8-sig" if encoding == "excel" else "utf-8")
