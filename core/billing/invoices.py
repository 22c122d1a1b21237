"""Billing from stored contracts: what the tariff engine derives from a contract once its sensors'
completion dates are filled in (the OsecT opening date and how it was derived), and the monthly
invoice run over a list of contracts, with the JSON shapes the API and CLI return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.billing.contract_dates import SENSORS, CompletionDate, completion_dates, with_reported_dates
from core.store.controlplane import Contract, Sensor
from tariff.calendar import Month
from tariff.contracts import parse_contract
from tariff.errors import InputError
from tariff.invoice import Contract as TariffContract
from tariff.invoice import Invoice, invoice
from tariff.opening import Opening


@dataclass(frozen=True)
class Derived:
    """A contract as the tariff engine reads it, or the error that stops it (naming the field)."""

    dates: tuple[CompletionDate, ...]
    contract: TariffContract | None
    error: InputError | None

    @property
    def opening(self) -> Opening | None:
        """The OsecT opening date with its explanation; other plans have none."""
        return getattr(self.contract, "opening", None)


def derive(document: Mapping, sensors: Sequence[Sensor]) -> Derived:
    dates = completion_dates(document, sensors)
    try:
        return Derived(dates, parse_contract(with_reported_dates(document, dates)), None)
    except InputError as exc:
        reported = next((d for d in dates if d.field == exc.field and d.source == SENSORS), None)
        if reported:  # say where a date the file does not hold came from
            serials = ", ".join(s.serial for s in sensors)
            exc = InputError(exc.field, f"{exc.message} (reported by the contract's sensors {serials})")
        return Derived(dates, None, exc)


TOTALS = ("subtotal", "tax", "total")


def invoice_totals(bill: Invoice) -> dict[str, int]:
    return {key: getattr(bill, key) for key in TOTALS}


@dataclass(frozen=True)
class Bill:
    """One contract's invoice of the run's month (None when the contract cannot be computed)."""

    contract: Contract
    derived: Derived
    invoice: Invoice | None


@dataclass(frozen=True)
class Run:
    month: Month
    bills: tuple[Bill, ...]

    @property
    def invoices(self) -> list[tuple[Contract, Invoice]]:
        return [(b.contract, b.invoice) for b in self.bills if b.invoice]

    @property
    def totals(self) -> dict[str, int]:
        """The run's subtotal, tax and total: the sums of its invoices'."""
        return {key: sum(getattr(bill, key) for _, bill in self.invoices) for key in TOTALS}


def invoice_run(contracts: Sequence[Contract], month: Month) -> Run:
    """Every contract's invoice of ``month``; one not billed that month has no lines and totals 0."""
    bills = []
    for row in contracts:
        derived = derive(row.document, row.sensors)
        bills.append(Bill(row, derived, invoice(derived.contract, month) if derived.contract else None))
    return Run(month, tuple(bills))


def _identity(row: Contract) -> dict:
    return {"id": row.id, "contract_id": row.contract_id, "tenant": row.tenant.name, "plan": row.plan}


def opening_json(opening: Opening) -> dict:
    return {
        "desired_opening_date": opening.desired.isoformat(),
        "opening_date": opening.opening_date.isoformat(),
        "shipping_delay_days": opening.shipping_delay_days,
        "test_delay_days": opening.test_delay_days,
        "installation_deadline": opening.installation_deadline.isoformat(),
        "explanation": list(opening.explanation),
    }


def contract_json(row: Contract) -> dict:
    """A stored contract with its completion dates (and where each came from) and opening date."""
    derived = derive(row.document, row.sensors)
    opening = derived.opening
    return _identity(row) | {
        "sensors": [s.serial for s in row.sensors],
        "document": row.document,
        "completion_dates": {
            d.field: {
                "date": d.date.isoformat() if d.date else None,
                "source": d.source,
                "waiting_for": list(d.waiting_for),
            }
            for d in derived.dates
        },
        "opening": opening_json(opening) if opening else None,
        "error": str(derived.error) if derived.error else None,
    }


def run_json(run: Run) -> dict:
    """The run: each invoice in the ``tariff invoice --json`` shape plus whose it is, the contracts
    that cannot be billed and why, and the run's totals."""
    return {
        "month": str(run.month),
        "invoices": [_identity(row) | bill.to_json() for row, bill in run.invoices],
        "errors": [_identity(b.contract) | {"error": str(b.derived.error)} for b in run.bills if b.derived.error],
        **run.totals,
    }


def invoices_through(contracts: Sequence[Contract], through: Month) -> list[dict]:
    """Every month's invoice run of ``contracts`` (``run_json``) from the first opening month to
    ``through``, months that bill nothing left out: a tenant's invoices for its export."""
    openings = [d.opening.opening_date for d in (derive(c.document, c.sensors) for c in contracts) if d.opening]
    if not openings:
        return []
    month, out = Month.of(min(openings)), []
    while month <= through:
        run = invoice_run(contracts, month)
        if run.invoices:
            out.append(run_json(run))
        month = month.plus(1)
    return out
