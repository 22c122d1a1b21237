"""The billing page (請求) for billing staff: one month's invoice run — per contract the opening date
and how it was derived, the invoice lines and totals — with month navigation and the run's CSV.

Mounted through the ``mieruka.routers`` entry point; whose contracts a user sees is decided by
``core.billing.contracts.billing_scope``, as for the billing API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.access import auth
from core.billing import contracts
from core.api.deps import DB, SettingsDep
from core.billing.invoices import Bill, Run, invoice_run
from core.billing.contract_dates import CONTRACT, CompletionDate
from core.store.controlplane import utcnow
from dashboard.i18n import Translator, translator
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser
from tariff.calendar import Month, tokyo_date

router = APIRouter(include_in_schema=False)


def shown_month(text: str) -> Month:
    """``?month=YYYY-MM``, or this month in Japan when absent or malformed."""
    try:
        return Month.parse(text)
    except ValueError:
        return Month.of(tokyo_date(utcnow()))


def date_source(d: CompletionDate, t: Translator) -> str:
    """Where a completion date came from, or what it still waits for."""
    if d.source == CONTRACT:
        return t("date_from_contract")
    if d.waiting_for:
        return t("date_waiting", serials=", ".join(d.waiting_for))
    return t("date_from_sensors") if d.source else t("date_not_reported")


def _bill(bill: Bill, t: Translator) -> dict:
    row = bill.contract
    return {
        "id": row.id,
        "contract_id": row.contract_id,
        "tenant": row.tenant.name,
        "plan": row.plan,
        "sensors": [s.serial for s in row.sensors],
        "opening": bill.derived.opening,
        "dates": [(t(d.field), d.date, date_source(d, t)) for d in bill.derived.dates],
        "invoice": bill.invoice,
        "error": bill.derived.error,
    }


def billing_context(run: Run, t: Translator) -> dict:
    return {
        "month": str(run.month),
        "months": {"prev": str(run.month.plus(-1)), "next": str(run.month.plus(1))},
        "bills": [_bill(b, t) for b in run.bills],
        "totals": run.totals,
    }


@router.get("/billing", name="billing")
def billing(request: Request, user: SessionUser, db: DB, settings: SettingsDep, month: str = "") -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    scope = contracts.billing_scope(db, auth.identity(user), settings.provider_tenant)
    if scope is None:
        return page(request, "error.html", status_code=403, message="billing_only", user=user)
    run = invoice_run(contracts.list_contracts(db, scope.tenant_id), shown_month(month))
    contracts.record_access(db, scope, "billing.page", f"{run.month}: {len(run.bills)} contract(s)")
    context = billing_context(run, translator(request_lang(request)))
    return page(request, "billing.html", user=user, **context)
