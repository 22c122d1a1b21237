"""/api/v1/billing/*: contracts with their derived opening dates, and the monthly invoice run as JSON
and CSV. For billing staff only (``BillingScope`` gives whose contracts); every access is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import Response
from pydantic import Field

from core.billing import contracts
from core.api.deps import DB, BillingScope, RowId
from core.api.models import NEEDS_LOGIN, Out, csv_response, refusals
from core.billing.invoices import Run, contract_json, invoice_run, invoice_totals, run_json
from core.export.csvsafe import csv_text
from tariff.calendar import Month

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
REFUSED = {401: NEEDS_LOGIN, 403: "not billing staff"}
RUN_REFUSED = REFUSED | {400: "month is not YYYY-MM"}
YEN = "integer yen"
MONTH = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", examples=["2026-12"])


class ContractIdentity(Out):
    id: int = Field(description="the stored contract's id (the path of /contracts/{contract})")
    contract_id: str = Field(description="the contract's own number, from its file", examples=["C-1"])
    tenant: str = Field(description="the customer tenant's name")
    plan: str = Field(examples=["osect", "secure-camera-cloud"])


class CompletionDate(Out):
    date: dt.date | None = Field(description="null while not known")
    source: Literal["contract", "sensors"] | None = Field(
        description="from the contract file, reported by the contract's sensors, or null: neither")
    waiting_for: list[str] = Field(description="serials of the contract's sensors that have not reported it yet")


class Opening(Out):
    """The OsecT opening date, derived from the desired date and the completion dates."""

    desired_opening_date: dt.date
    opening_date: dt.date
    shipping_delay_days: int
    test_delay_days: int
    installation_deadline: dt.date
    explanation: list[str] = Field(description="how the opening date was derived, step by step")


class ContractOut(ContractIdentity):
    """A stored contract with its completion dates (and where each came from) and its opening date."""

    sensors: list[str] = Field(description="serials of the sensors linked to the contract")
    document: dict[str, Any] = Field(description="the contract file as stored")
    completion_dates: dict[str, CompletionDate] = Field(
        description="by contract-file field; empty for plans other than OsecT")
    opening: Opening | None = Field(description="OsecT only, when it can be derived")
    error: str | None = Field(description="why the contract cannot be billed (naming the field), or null")


class Line(Out):
    code: str = Field(examples=["osect.monthly"])
    description: str
    quantity: int
    unit_price: int = Field(description=YEN)
    amount: int = Field(description=YEN)


class Invoice(ContractIdentity):
    """One contract's invoice of the month (no lines and totals 0 when it is not billed that month)."""

    month: str = MONTH
    lines: list[Line]
    subtotal: int = Field(description=YEN)
    tax: int = Field(description=YEN + ", truncated")
    total: int = Field(description=YEN)


class Unbillable(ContractIdentity):
    error: str = Field(description="why the invoice cannot be computed, naming the contract file's field")


class InvoiceRun(Out):
    """Every contract's invoice of the month, the contracts that cannot be billed, and the sums."""

    month: str = MONTH
    invoices: list[Invoice]
    errors: list[Unbillable]
    subtotal: int = Field(description=YEN + ", sum of the invoices'")
    tax: int = Field(description=YEN + ", sum of the invoices'")
    total: int = Field(description=YEN + ", sum of the invoices'")

CSV_COLUMNS = ("row", "tenant", "contract_id", "plan", "month", "code", "description", "quantity",
               "unit_price", "amount", "subtotal", "tax", "total")


def billing_month(month: str) -> Month:
    """``?month=YYYY-MM``."""
    try:
        return Month.parse(month)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"month: {exc}") from None


BillingMonth = Annotated[Month, Depends(billing_month)]


@router.get("/contracts", responses=refusals(REFUSED))
def list_contracts(scope: BillingScope, db: DB) -> list[ContractOut]:
    rows = contracts.list_contracts(db, scope.tenant_id)
    contracts.record_access(db, scope, "billing.contracts", f"{len(rows)} contract(s)")
    return [contract_json(row) for row in rows]


@router.get("/contracts/{contract}", responses=refusals(REFUSED | {404: "no such contract in the caller's scope"}))
def show_contract(contract: RowId, scope: BillingScope, db: DB) -> ContractOut:
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


@router.get("/invoices", responses=refusals(RUN_REFUSED))
def invoices(scope: BillingScope, db: DB, month: BillingMonth) -> InvoiceRun:
    """The invoice run of ``month``: every contract's invoice, the contracts that cannot be billed, totals."""
    return run_json(_run(scope, db, month, "billing.invoices"))


@router.get("/invoices.csv", name="billing_invoices_csv", response_class=Response, responses=csv_response(
    "a row per invoice line, per invoice (its totals) and for the run") | refusals(RUN_REFUSED))
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
