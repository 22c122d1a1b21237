"""/api/v1/billing/*: contracts with their derived opening dates, and the monthly invoice run as JSON
and CSV. For billing staff only (``BillingScope`` gives whose contracts); every access is audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import Response

from core.billing import contracts
from core.api.deps import DB, BillingScope, RowId
from core.billing.invoices import Run, contract_json, invoice_run, invoice_totals, run_json
from core.export.csvsafe import csv_text
from tariff.calendar import Month

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

CSV_COLUMNS = ("row", "tenant", "contract_id", "plan", "month", "code", "description", "quantity",
               "unit_price", "amount", "subtotal", "tax", "total")


def billing_month(month: str) -> Month:
    """``?month=YYYY-MM``."""
    try:
        return Month.parse(month)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"month: {exc}") from None


BillingMonth = Annotated[Month, Depends(billing_month)]


@router.get("/contracts")
def list_contracts(scope: BillingScope, db: DB) -> list[dict]:
    rows = contracts.list_contracts(db, scope.tenant_id)
    contracts.record_access(db, scope, "billing.contracts", f"{len(rows)} contract(s)")
    return [contract_json(row) for row in rows]


@router.get("/contracts/{contract}")
def show_contract(contract: RowId, scope: BillingScope, db: DB) -> dict:
    """One contract with its completion dates and, for OsecT, its opening date and how it was derived."""
    row = contracts.get_contract(db, contract, scope.tenant_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contract {contract}")
    read = f"contract {row.id} {row.contract_id} of {row.tenant.name}"
    contracts.record_access(db, scope, "billing.contract", read)
    return contract_json(row)


def _run(scope: contracts.Scope, db: DB, month: Month, action: str) -> Run:
    run = invoice_run(contracts.list_contracts(db, scope.tenant_id), month)
    contracts.record_access(db, scope, action, f"{month}: {len(run.bills)} contract(s)")
    return run


@router.get("/invoices")
def invoices(scope: BillingScope, db: DB, month: BillingMonth) -> dict:
    """The invoice run of ``month``: every contract's invoice, the contracts that cannot be billed, totals."""
    return run_json(_run(scope, db, month, "billing.invoices"))


@router.get("/invoices.csv", name="billing_invoices_csv", response_class=Response)
def invoices_csv(scope: BillingScope, db: DB, month: BillingMonth) -> Response:
    """The run as CSV: a row per invoice line, per invoice (its totals) and for the run, integer yen."""
    return Response(run_csv(_run(scope, db, month, "billing.invoices.csv")), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="invoices-{month}.csv"'})


def run_csv(run: Run) -> str:
    return csv_text(CSV_COLUMNS, _run_rows(run))


def _run_rows(run: Run) -> Iterator[dict]:
    for bill in run.bills:
        row = bill.contract
        whose = {"tenant": row.tenant.name, "contract_id": row.contract_id, "plan": row.plan, "month": run.month}
        if bill.invoice is None:
            yield whose | {"row": "error", "description": str(bill.derived.error)}
            continue
        for line in bill.invoice.lines:
            yield whose | {"row": "line"} | asdict(line)
        yield whose | {"row": "invoice"} | invoice_totals(bill.invoice)
    yield {"row": "run", "month": run.month} | run.totals
