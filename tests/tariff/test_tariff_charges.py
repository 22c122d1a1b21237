"""Late payments, evasions and damages recorded in a contract file, on the invoice of the month they
fall in (tariff.charges): the spec's worked examples, the plans' caps, and refused records."""

from __future__ import annotations

import json

import pytest
from tarifftest import C1, amounts, bill, ciero, monthly, osect, scc
from test_tariff_cli import tariff

from tariff.contracts import parse_contract
from tariff.errors import InputError


def test_spec_late_interest_example_is_billed_in_the_month_of_payment():
    # Spec §0: 10,000 yen due 2024-04-30 paid 2024-05-31 at 14.6 % → 30 days → 120 yen (Ciero's rate).
    data = ciero(start_date="2024-04-01", annual_fee=10_000,
                 payments=[{"due": "2024-04-30", "paid": "2024-05-31", "amount": 10_000}])
    may = bill(data, "2024-05")
    assert amounts(may) == [("ciero.late_interest", 120)]
    assert "30 day(s) at 14.6 %" in may.lines[0].description
    assert (may.subtotal, may.tax, may.total) == (120, 0, 120)  # interest is outside the tax
    assert amounts(bill(data, "2024-04")) == [("ciero.annual", 10_000)]
    assert bill(data, "2024-06").lines == ()


def test_interest_sits_beside_the_fees_and_only_the_fees_are_taxed():
    # OsecT 14.5 %: 100,000 × 14.5 % × 30 / 365 = 1,191.78… → 1,191; June is a full month of 2 sensors.
    data = osect(payments=[{"due": "2027-05-01", "paid": "2027-06-01", "amount": 100_000}])
    june = bill(data, "2027-06")
    assert amounts(june) == [("osect.monthly", 120_000), ("osect.late_interest", 1_191)]
    assert (june.subtotal, june.tax, june.total) == (121_191, 12_000, 133_191)


def test_payments_on_time_or_under_plans_without_a_rate_owe_no_interest():
    on_time = osect(payments=[{"due": "2027-05-31", "paid": "2027-05-31", "amount": 100_000},
                              {"due": "2027-05-31", "paid": "2027-06-01", "amount": 100_000}])
    assert [code for code, _ in amounts(bill(on_time, "2027-05"))] == ["osect.monthly"]
    # Paid the day after the due date: days = (paid − due) − 1 = 0.
    assert [code for code, _ in amounts(bill(on_time, "2027-06"))] == ["osect.monthly"]
    late = monthly(payments=[{"due": "2026-04-30", "paid": "2026-09-30", "amount": 10_000}])
    assert amounts(bill(late, "2026-09")) == [("dot-i.monthly", 10_000)]


def test_osect_evasion_bills_the_amount_and_twice_it_plus_tax():
    # 004 Art. 19-3: 100,000 evaded → 100,000 + 200,000 surcharge + 10 % tax on both.
    june = bill(osect(evasions=[{"date": "2027-06-10", "evaded": 100_000}]), "2027-06")
    assert amounts(june) == [("osect.monthly", 120_000), ("osect.evaded", 100_000), ("osect.surcharge", 200_000)]
    assert (june.subtotal, june.tax, june.total) == (420_000, 42_000, 462_000)


def test_scc_evasion_surcharge_is_the_amount_again_untaxed():
    # 000 Art. 37: as much again; S-1's January is its 28,500 monthly total.
    jan = bill(scc(evasions=[{"date": "2027-01-05", "evaded": 10_000}]), "2027-01")
    assert amounts(jan)[-2:] == [("scc.evaded", 10_000), ("scc.surcharge", 10_000)]
    assert (jan.subtotal, jan.tax, jan.total) == (48_500, 3_850, 52_350)


def test_osect_damages_are_capped_at_the_monthly_fee_of_the_sensors_in_use():
    # C-1 runs 2 sensors, 3 from 2027-02-10 (004 Art. 27-2: 60,000 per sensor in use at the cause).
    data = {**C1, "damages": [{"cause": "2027-03-01", "settled": "2027-04-15", "claimed": 500_000},
                              {"cause": "2027-01-15", "settled": "2027-05-01", "claimed": 50_000},
                              {"cause": "2027-02-01", "settled": "2027-05-02", "claimed": 900_000}]}
    april = bill(data, "2027-04")
    assert amounts(april) == [("osect.monthly", 180_000), ("osect.damages", -180_000)]
    assert (april.subtotal, april.tax, april.total) == (0, 18_000, 18_000)  # damages are outside the tax
    assert amounts(bill(data, "2027-05"))[1:] == [("osect.damages", -50_000), ("osect.damages", -120_000)]


def test_dot_i_damages_are_capped_at_the_fees_received_in_the_three_months_before():
    paid = ["2026-02-15", "2026-02-16", "2026-04-30", "2026-05-15", "2026-05-16"]
    data = monthly(
        start_date="2026-01-15",
        payments=[{"due": day, "paid": day, "amount": 10_000} for day in paid],
        damages=[{"cause": "2026-05-15", "settled": "2026-06-01", "claimed": 100_000}],
    )
    # Window (2026-02-15, 2026-05-15]: the receipts of 02-16, 04-30 and 05-15.
    assert amounts(bill(data, "2026-06")) == [("dot-i.monthly", 10_000), ("dot-i.damages", -30_000)]


def test_ciero_damages_are_capped_at_the_amount_paid_by_the_cause():
    payments = [{"due": "2026-04-01", "paid": "2026-04-01", "amount": 120_000},
                {"due": "2027-04-01", "paid": "2027-04-01", "amount": 120_000}]
    data = ciero(payments=payments,
                 damages=[{"cause": "2027-03-31", "settled": "2027-06-01", "claimed": 1_000_000},
                          {"cause": "2027-04-01", "settled": "2027-07-01", "claimed": 1_000_000}])
    assert amounts(bill(data, "2027-06")) == [("ciero.damages", -120_000)]
    assert bill(data, "2027-06").total == -120_000  # a credit note
    assert amounts(bill(data, "2027-07")) == [("ciero.damages", -240_000)]


def test_scc_damages_are_capped_at_the_monthly_fee():
    data = scc(damages=[{"cause": "2027-01-05", "settled": "2027-02-01", "claimed": 40_000}])
    assert amounts(bill(data, "2027-02"))[-1] == ("scc.damages", -28_500)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (monthly(evasions=[{"date": "2026-05-01", "evaded": 1}]), "evasions"),
        (osect(payments=[{"due": "2027-01-01", "paid": "2027-01-05", "amount": -1}]), "payments[0].amount"),
        (osect(payments=[{"due": "2027-01-01", "paid": "2027-01-05"}]), "payments[0].amount"),
        (osect(payments=[{"due": "2026-11-01", "paid": "2027-01-05", "amount": 1}]), "payments[0].due"),
        (osect(evasions=[{"date": "2027-01-01", "evaded": 0}]), "evasions[0].evaded"),
        (osect(damages=[{"cause": "2027-02-01", "settled": "2027-01-31", "claimed": 1}]), "damages[0].settled"),
        (osect(damages=[{"cause": "2027-02-01", "settled": "2027-03-01", "claimed": 1, "x": 1}]), "damages[0].x"),
        (osect(payments={"due": "2027-01-01"}), "payments"),
    ],
)
def test_bad_records_are_refused_naming_the_field(data, field):
    with pytest.raises(InputError) as caught:
        parse_contract(data)
    assert caught.value.field == field


def test_cli_invoice_keeps_the_spec_shape_with_charges(tmp_path):
    def contract_file(data: dict) -> str:
        path = tmp_path / "contract.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    data = osect(payments=[{"due": "2027-05-01", "paid": "2027-06-01", "amount": 100_000}])
    run = tariff("invoice", contract_file(data), "--month", "2027-06", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert list(out) == ["contract_id", "month", "lines", "subtotal", "tax", "total"]
    assert out["lines"][1] == {"code": "osect.late_interest", "description": out["lines"][1]["description"],
                               "quantity": 1, "unit_price": 1_191, "amount": 1_191}
    assert (out["subtotal"], out["tax"], out["total"]) == (121_191, 12_000, 133_191)
    bad = tariff("invoice", contract_file(osect(evasions=[{"date": "2027-01-01", "evaded": 0}])),
                 "--month", "2027-06", "--json")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "evasions[0].evaded" in bad.stderr
