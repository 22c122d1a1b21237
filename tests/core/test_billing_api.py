"""/api/v1/billing/*: billing staff only, each tenant's billing users see their tenant's contracts and the
provider's see all; the invoice run gives the spec's worked-example numbers as JSON and as CSV; every
access is audited."""

from __future__ import annotations

import csv
import io

import pytest
from coretest import OSECT_EXAMPLE, SCC_EXAMPLE, add_user, bearer, store_contract
from sqlalchemy import select

from core.store.controlplane import AuditLog

ROUTES = [
    "/api/v1/billing/contracts",
    "/api/v1/billing/contracts/{contract}",
    "/api/v1/billing/invoices?month=2026-12",
    "/api/v1/billing/invoices.csv?month=2026-12",
]


@pytest.fixture(scope="module")
def site(client, tenants):
    """acme holds the OsecT example (its sensor linked), globex the Secure Camera Cloud one; tokens
    by who holds them."""
    acme = tenants[0]
    contracts = {
        "acme": store_contract(client.app, "acme", OSECT_EXAMPLE, ("SN-acme",)),
        "globex": store_contract(client.app, "globex", SCC_EXAMPLE),
    }
    tokens = {
        "acme analyst": acme.api_token,
        "acme admin": add_user(client.app, "acme", "admin@acme.example", "admin"),
        "acme billing": add_user(client.app, "acme", "billing@acme.example", "billing"),
        "globex billing": add_user(client.app, "globex", "billing@globex.example", "billing"),
        "provider billing": add_user(client.app, "provider", "billing@provider.example", "billing"),
        "provider analyst": add_user(client.app, "provider", "analyst@provider.example", "analyst"),
    }
    return contracts, tokens


def get(client, site, who, path, **params):
    contracts, tokens = site
    return client.get(path.format(contract=contracts["acme"]), params=params or None, headers=bearer(tokens[who]))


def ok(response):
    assert response.status_code == 200, response.text
    return response.json() if response.headers["content-type"].startswith("application/json") else response.text


@pytest.mark.parametrize("path", ROUTES)
def test_only_billing_staff_may_read_billing(client, site, path):
    assert client.get(path.format(contract=1)).status_code == 401
    for who in ("acme analyst", "acme admin", "provider analyst"):
        r = get(client, site, who, path)
        assert (r.status_code, r.json()) == (403, {"detail": "billing staff only"}), who
    for who in ("acme billing", "provider billing"):
        ok(get(client, site, who, path))


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_shows_a_tenant_only_its_own_contracts(client, site, path):
    theirs = get(client, site, "globex billing", path)
    if "{contract}" in path:  # acme's contract does not exist for globex
        assert (theirs.status_code, theirs.json()) == (404, {"detail": f"no contract {site[0]['acme']}"})
        return
    body = ok(theirs)
    mine = ok(get(client, site, "acme billing", path))
    everyone = ok(get(client, site, "provider billing", path))
    assert "S-1" in str(body) and "C-1" not in str(body)
    assert "C-1" in str(mine) and "S-1" not in str(mine)
    assert "C-1" in str(everyone) and "S-1" in str(everyone)


def test_contract_shows_its_opening_date_and_how_it_was_derived(client, site):
    shown = ok(get(client, site, "acme billing", "/api/v1/billing/contracts/{contract}"))
    assert shown["tenant"] == "acme" and shown["sensors"] == ["SN-acme"] and shown["document"] == OSECT_EXAMPLE
    assert {k: v for k, v in shown["opening"].items() if k != "explanation"} == {
        "desired_opening_date": "2026-12-01", "opening_date": "2026-12-03", "shipping_delay_days": 2,
        "test_delay_days": 0, "installation_deadline": "2026-11-25"}
    assert shown["opening"]["explanation"][0].startswith("equipment delivered 2026-11-19, after bd(D,-9)")
    assert shown["completion_dates"]["installation_completed_date"]["source"] == "contract"
    [scc] = ok(get(client, site, "globex billing", "/api/v1/billing/contracts"))
    assert scc["opening"] is None and scc["completion_dates"] == {} and scc["error"] is None


def invoices(client, site, month):
    run = ok(get(client, site, "provider billing", "/api/v1/billing/invoices", month=month))
    return run, {i["contract_id"]: (i["subtotal"], i["tax"], i["total"]) for i in run["invoices"]}


def test_invoice_run_gives_the_worked_examples(client, site):
    run, totals = invoices(client, site, "2026-12")
    assert totals["C-1"] == (612_258, 61_225, 673_483)  # specs/tariff.md §1
    [osect] = [i for i in run["invoices"] if i["contract_id"] == "C-1"]
    assert [(line["code"], line["quantity"], line["amount"]) for line in osect["lines"]] == [
        ("osect.initial", 2, 500_000), ("osect.monthly", 2, 112_258)]
    assert osect["month"] == "2026-12" and osect["tenant"] == "acme" and osect["plan"] == "osect"
    # December also credits the 96-hour outage: floor(28,500 × 3 / 31) = 2,758 (Art. 34-5).
    assert totals["S-1"] == (25_742, 2_574, 28_316)
    assert (run["subtotal"], run["tax"], run["total"]) == (638_000, 63_799, 701_799) and run["errors"] == []
    assert invoices(client, site, "2026-10")[1] == {"C-1": (0, 0, 0), "S-1": (18_000, 1_800, 19_800)}  # §2
    assert invoices(client, site, "2026-11")[1]["S-1"] == (28_500, 2_850, 31_350)


@pytest.mark.parametrize("month", ["2026-10", "2026-12"])
def test_csv_and_json_agree(client, site, month):
    run, _ = invoices(client, site, month)
    r = get(client, site, "provider billing", "/api/v1/billing/invoices.csv", month=month)
    assert r.headers["content-disposition"] == f'attachment; filename="invoices-{month}.csv"'
    rows = list(csv.DictReader(io.StringIO(ok(r))))
    lines = [{"contract_id": row["contract_id"], "code": row["code"], "description": row["description"],
              "quantity": int(row["quantity"]), "unit_price": int(row["unit_price"]), "amount": int(row["amount"])}
             for row in rows if row["row"] == "line"]
    assert lines == [{"contract_id": i["contract_id"]} | line for i in run["invoices"] for line in i["lines"]]
    keys = ("contract_id", "tenant", "plan", "month", "subtotal", "tax", "total")
    per_invoice = [{k: row[k] for k in keys} for row in rows if row["row"] == "invoice"]
    assert per_invoice == [{k: str(i[k]) for k in keys} for i in run["invoices"]]
    assert rows[-1] == dict.fromkeys(rows[-1], "") | {"row": "run", "month": month} | {
        k: str(run[k]) for k in ("subtotal", "tax", "total")}


def test_a_malformed_month_is_400_naming_it(client, site):
    r = get(client, site, "acme billing", "/api/v1/billing/invoices", month="2026-13")
    assert (r.status_code, r.json()["detail"]) == (400, "month: no such month: 2026-13")
    assert get(client, site, "acme billing", "/api/v1/billing/invoices.csv").status_code == 422


def test_every_access_is_audited_and_provider_reads_are_kept_apart(client, site, tenants):
    acme = tenants[0]
    before = _audit(client)
    for path in ROUTES:
        ok(get(client, site, "acme billing", path))
        ok(get(client, site, "provider billing", path))
    contract = site[0]["acme"]
    assert _audit(client)[len(before):] == [
        entry
        for action, detail in [
            ("billing.contracts", "1 contract(s)"),
            ("billing.contract", f"contract {contract} C-1 of acme"),
            ("billing.invoices", "2026-12: 1 contract(s)"),
            ("billing.invoices.csv", "2026-12: 1 contract(s)"),
        ]
        for entry in [
            ("billing@acme.example", acme.id, action, detail),
            ("billing@provider.example", None, action, detail.replace("1 contract(s)", "2 contract(s)")),
        ]
    ]


def _audit(client) -> list[tuple]:
    with client.app.state.controlplane.sessions() as db:
        rows = db.scalars(select(AuditLog).where(AuditLog.action.like("billing.%")).order_by(AuditLog.id))
        return [(a.actor, a.tenant_id, a.action, a.detail) for a in rows]
