"""The invoice run bills what a stored contract file records besides its fees (tariff.charges): late
interest, an evasion and its surcharge, and capped damages, in the JSON run and its CSV, with the tax
only on the taxable lines."""

from __future__ import annotations

import csv
import io

from coretest import SCC_EXAMPLE, add_user, bearer, store_contract

# S-1 (28,500 a month from November 2026) with its November invoice (31,350 with tax) paid two months
# late, 10,000 of fees evaded and a 5,000 damages claim, all settled in January 2027.
DOCUMENT = {
    **SCC_EXAMPLE,
    "contract_id": "S-charges",
    "payments": [{"due": "2026-11-30", "paid": "2027-01-30", "amount": 31_350}],
    "evasions": [{"date": "2027-01-05", "evaded": 10_000}],
    "damages": [{"cause": "2027-01-05", "settled": "2027-01-20", "claimed": 5_000}],
}


def test_the_invoice_run_bills_late_interest_evasions_and_damages(client, tenants):
    store_contract(client.app, "globex", DOCUMENT)
    token = add_user(client.app, "globex", "billing-charges@globex.example", "billing")
    r = client.get("/api/v1/billing/invoices", params={"month": "2027-01"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    [bill] = [i for i in r.json()["invoices"] if i["contract_id"] == "S-charges"]
    # 31,350 × 14.5 % × 60 days / 365 = 747.2…; the surcharge equals the evaded fees (000 Art. 37);
    # the claim is under the cap (the monthly fee, 000 Art. 48).
    assert [(line["code"], line["amount"]) for line in bill["lines"]][4:] == [
        ("scc.late_interest", 747), ("scc.evaded", 10_000), ("scc.surcharge", 10_000), ("scc.damages", -5_000)]
    # taxed: the monthly fees and the evaded fees, (28,500 + 10,000) × 10 %
    assert (bill["subtotal"], bill["tax"], bill["total"]) == (44_247, 3_850, 48_097)

    r = client.get("/api/v1/billing/invoices.csv", params={"month": "2027-01"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    rows = [row for row in csv.DictReader(io.StringIO(r.text)) if row["contract_id"] == "S-charges"]
    assert [row["code"] for row in rows if row["row"] == "line"][4:] == [
        "scc.late_interest", "scc.evaded", "scc.surcharge", "scc.damages"]
    assert [row["total"] for row in rows if row["row"] == "invoice"] == ["48097"]
