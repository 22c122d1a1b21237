"""``tariff`` command line (spec §4): opening-date, invoice, late-interest, each with ``--json``.

Standalone: ``python -m tariff …``; the core CLI mounts ``app`` as ``mieruka tariff …``. Bad input
prints exactly one ``error:`` line naming the argument or contract field on stderr and exits with 2;
nothing is written to stdout then.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from tariff.calendar import Month, parse_date
from tariff.contracts import parse_contract_json
from tariff.errors import InputError
from tariff.interest import late_interest
from tariff.invoice import invoice as build_invoice
from tariff.opening import derive_opening
from tariff.plans import LATE_INTEREST_RATES

app = typer.Typer(
    help="Tariff engine: opening dates, monthly invoices and late-payment interest.",
    rich_markup_mode=None,
    add_completion=False,
)

DateOption = Annotated[date, typer.Option(parser=parse_date, metavar="YYYY-MM-DD")]
OptionalDate = Annotated[date | None, typer.Option(parser=parse_date, metavar="YYYY-MM-DD")]
PlanOption = Annotated[str, typer.Option(metavar="PLAN")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON (the stable, scriptable form)")]


def fail(name: str, message: str) -> typer.Exit:
    typer.echo(f"error: {name}: {message}", err=True)
    return typer.Exit(2)


def check_plan(plan: str, plans: list[str]) -> None:
    """Plans are checked here rather than as a choice type so that the error stays one line."""
    if plan not in plans:
        raise fail("--plan", f"{plan!r} is not one of: {', '.join(plans)}")


def emit(data: dict, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data) if as_json else text)


@app.command("opening-date")
def opening_date(
    plan: PlanOption,
    desired: DateOption,
    delivered: DateOption,
    installed: OptionalDate = None,
    tested: OptionalDate = None,
    as_json: JsonFlag = False,
) -> None:
    """OsecT opening date from the desired date and the delivery, installation and test dates."""
    check_plan(plan, ["osect"])
    try:
        opening = derive_opening(desired, delivered, installed, tested)
    except InputError as exc:
        raise fail(f"--{exc.field}", exc.message) from None
    data = {
        "opening_date": opening.opening_date.isoformat(),
        "shipping_delay_days": opening.shipping_delay_days,
        "test_delay_days": opening.test_delay_days,
        "installation_deadline": opening.installation_deadline.isoformat(),
    }
    text = "\n".join([f"opening date {opening.opening_date}", *(f"  {why}" for why in opening.explanation)])
    emit(data, as_json, text)


@app.command()
def invoice(
    contract: Annotated[Path, typer.Argument(metavar="CONTRACT", help="contract file, JSON (spec §4)")],
    month: Annotated[Month, typer.Option(parser=Month.parse, metavar="YYYY-MM")],
    as_json: JsonFlag = False,
) -> None:
    """The invoice of one billing month for a contract file."""
    try:
        text = contract.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail("CONTRACT", f"cannot read {contract}: {exc}") from None
    try:
        bill = build_invoice(parse_contract_json(text), month)
    except InputError as exc:
        raise fail(f"{contract}: {exc.field}", exc.message) from None
    rows = [f"invoice {bill.contract_id} {bill.month}"]
    rows += [
        f"  {line.code:<22} {line.quantity:>4} × {line.unit_price:>9,} = {line.amount:>11,}  "
        f"{line.description}"
        for line in bill.lines
    ]
    rows += [
        f"  {label:<41} {value:>11,}"
        for label, value in (("subtotal", bill.subtotal), ("tax", bill.tax), ("total", bill.total))
    ]
    emit(bill.to_json(), as_json, "\n".join(rows))


@app.command("late-interest")
def late_interest_command(
    plan: PlanOption,
    principal: Annotated[int, typer.Option(min=0, help="yen, excluding earlier interest")],
    due: DateOption,
    paid: DateOption,
    as_json: JsonFlag = False,
) -> None:
    """Late-payment interest on an amount paid after its due date."""
    check_plan(plan, sorted(LATE_INTEREST_RATES))  # the plans whose terms state a rate
    result = late_interest(principal, LATE_INTEREST_RATES[plan], due, paid)
    emit(
        {"days": result.days, "interest": result.interest},
        as_json,
        f"{result.days} day(s) late: interest {result.interest:,} yen",
    )


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point; usage errors become one ``error:`` line and exit code 2."""
    try:
        code = app(args=argv, prog_name="tariff", standalone_mode=False)
    except TyperException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return exc.exit_code
    except typer.Abort:
        return 130
    return code if isinstance(code, int) else 0
