"""CSV formula injection (issue 9 item 8): text from the network or from users that a spreadsheet
would run as a formula is written as text in every CSV the core and dashboard serve."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pytest
from coretest import (
    PASSWORD,
    SCC_EXAMPLE,
    T0,
    add_user,
    authenticated,
    bearer,
    make_batch,
    post_batch,
    provision,
    store_contract,
)

from core.access import auth
from core.export.csvsafe import csv_text, neutral, write_arrow_csv
from sensor import wire

HYPERLINK = '=HYPERLINK("http://x","y")'
PAYLOADS = [HYPERLINK, "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", "  =1+1"]


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def formulas(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would evaluate: text starting, after optional whitespace, with = + - @."""
    return [c for row in rows for c in row if not number(c) and (
        c.lstrip(" \t\r").startswith(("=", "+", "-", "@")) or c.startswith(("\t", "\r")))]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_neutral_prefixes_a_quote_to_formula_text(payload):
    assert neutral(payload) == "'" + payload
    assert formulas(cells(csv_text(["x"], [{"x": payload}]))) == []


def test_arrow_csv_writes_the_same_cells_column_wise(tmp_path):
    plain = ["plc-1", "10.0.0.2", "", "a=b", None]
    table = pa.table({"text": PAYLOADS + plain, "n": list(range(-3, len(PAYLOADS) + len(plain) - 3)),
                      "tags": [["+cmd", "ok"]] * (len(PAYLOADS) + len(plain))})
    write_arrow_csv(table, tmp_path / "t.csv")
    rows = cells((tmp_path / "t.csv").open(newline="").read())
    assert formulas(rows) == []
    assert [r[0] for r in rows[1:]] == [str(neutral(p)) for p in PAYLOADS + plain[:-1]] + [""]
    assert rows[1][1] == "-3" and rows[1][2] == '["+cmd", "ok"]'


def test_numbers_and_plain_text_stay_as_they_are():
    """Numbers are written as numbers, negative ones included; only strings are neutralised."""
    for value in (-5, -1.5, 0, 12, "plc-1", "10.0.0.2", "", "a=b", "Siemens AG"):
        assert neutral(value) == value
    assert cells(csv_text(["n", "s"], [{"n": -5, "s": "-5"}])) == [["n", "s"], ["-5", "'-5"]]


@pytest.fixture(scope="module")
def plant(client):
    """A tenant whose sensor reported formula payloads as DHCP hostname, vendor and model."""
    tenant = provision(client.app, "csv")
    observations = [
        dict(ts=T0, mac="00:1b:1b:00:00:02", ip="10.0.0.2", attribute=attribute, value=value,
             source="dhcp", confidence=80)
        for attribute, value in (("hostname", HYPERLINK), ("vendor", "@SUM(1+1)"), ("model", "-2+3"))
    ]
    batch = make_batch(observations=observations)
    assert post_batch(client, tenant.sensor_token, wire.encode(batch)).status_code == 200
    note = {"tags": ["+cmd"], "notes": "=1+1"}
    r = client.put("/api/v1/assets/00:1b:1b:00:00:02/annotation", json=note, headers=bearer(tenant.api_token))
    assert r.status_code == 200, r.text
    return tenant


def test_assets_csv_neutralises_what_the_sensor_reported(client, plant):
    r = client.get("/api/v1/assets.csv", headers=bearer(plant.api_token))
    assert r.status_code == 200
    header, *rows = cells(r.text)
    plc = dict(zip(header, next(row for row in rows if row[0] == "10.0.0.2"), strict=True))
    assert (plc["hostname"], plc["vendor"], plc["model"]) == ("'" + HYPERLINK, "'@SUM(1+1)", "'-2+3")
    assert (plc["tags"], plc["notes"]) == ("'+cmd", "'=1+1")
    assert formulas(rows) == []


def test_dashboard_csv_neutralises_too(client, plant):
    with client.app.state.controlplane.sessions() as db:
        raw = auth.start_session(db, authenticated(db, plant.email, PASSWORD))
    r = client.get("/assets.csv", headers={"Cookie": f"{auth.SESSION_COOKIE}={raw}"})
    assert r.status_code == 200 and "'" + HYPERLINK in {c for row in cells(r.text) for c in row}
    assert formulas(cells(r.text)) == []


def test_invoice_csv_neutralises_tenant_and_contract_names(client):
    add_user(client.app, "=cmd|' /C calc'!A0", "billing@evil.example", "billing")  # creates the tenant
    store_contract(client.app, "=cmd|' /C calc'!A0", dict(SCC_EXAMPLE, contract_id="@SUM(1+1)"))
    token = add_user(client.app, "provider", "billing@provider.example", "billing")
    r = client.get("/api/v1/billing/invoices.csv", params={"month": "2026-12"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    header, *rows = cells(r.text)
    mine = [dict(zip(header, row, strict=True)) for row in rows if row[1]]
    assert mine and {(row["tenant"], row["contract_id"]) for row in mine} == {("'=cmd|' /C calc'!A0", "'@SUM(1+1)")}
    assert formulas(rows) == []
    assert "-2758" in {row["amount"] for row in mine}  # the outage credit stays a (negative) number


def test_csvsafe_is_the_only_csv_writer():
    """A CSV written any other way would skip the neutralisation: core and dashboard use csv_text."""
    root = Path(__file__).resolve().parents[2]
    writers = [str(path.relative_to(root)) for package in ("core", "dashboard") for path in (root / package).rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))]
    assert writers == ["core/export/csvsafe.py"]
