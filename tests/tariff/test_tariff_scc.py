"""Secure Camera Cloud invoices: whole months from the month after installation, the 12-month minimum,
3 months' notice and the 72-hour outage exemption."""

from __future__ import annotations

from datetime import date

from tarifftest import amounts, bill, scc

from tariff.contracts import parse_contract

MONTHLY = 28_500  # S-1's monthly total


def outage(aware: str, restored: str) -> dict:
    return {"aware_at": aware, "restored_at": restored}


def test_installation_month_is_not_charged_when_it_is_the_contract_month():
    data = scc(contract_date="2026-10-01", installation_date="2026-10-02")
    assert [code for code, _ in amounts(bill(data, "2026-10"))] == ["scc.setup", "scc.ip_vpn_initial"]


def test_initial_fees_follow_the_contract_date_not_the_installation():
    data = scc(contract_date="2026-09-20")
    assert bill(data, "2026-09").subtotal == 18_000
    assert bill(data, "2026-10").subtotal == 0


def test_two_included_ip_vpn_ids_cost_nothing():
    data = scc(ip_vpn_ids=2, storage_units=0)
    assert amounts(bill(data, "2026-10")) == [("scc.setup", 15_000)]
    assert amounts(bill(data, "2026-11")) == [("scc.basic", 5_000), ("scc.cameras", 18_000)]


def test_thermal_type_has_no_basic_fee_and_its_own_camera_price():
    data = scc(camera_type="thermal", cameras=3, ip_vpn_ids=2, storage_units=1)
    assert amounts(bill(data, "2026-11")) == [("scc.cameras", 15_000), ("scc.storage", 2_000)]


def test_termination_month_is_a_full_month_whatever_the_day():
    data = scc(termination_date="2027-12-01")
    assert bill(data, "2027-12").subtotal == MONTHLY
    assert bill(data, "2028-01").subtotal == 0


def test_termination_at_the_end_of_the_minimum_period_owes_no_lump_sum():
    # Minimum period: 2026-11 … 2027-10 (the 12 months after the installation month).
    assert bill(scc(termination_date="2027-10-31"), "2027-10").subtotal == MONTHLY


def test_early_termination_adds_the_remaining_minimum_months_as_a_lump_sum():
    inv = bill(scc(termination_date="2027-02-15"), "2027-02")
    assert inv.lines[-1].code == "scc.early_termination"
    assert (inv.lines[-1].quantity, inv.lines[-1].unit_price) == (8, MONTHLY)  # 2027-03 … 2027-10
    assert inv.subtotal == 9 * MONTHLY


def test_termination_in_the_installation_month_owes_all_twelve_months():
    inv = bill(scc(termination_date="2026-10-30"), "2026-10")
    assert amounts(inv) == [
        ("scc.setup", 15_000),
        ("scc.ip_vpn_initial", 3_000),
        ("scc.early_termination", 12 * MONTHLY),
    ]


def test_minimum_period_counts_from_a_later_service_start():
    # Service starts 2026-11-05 → minimum period 2026-12 … 2027-11; billing still starts 2026-11.
    data = scc(service_start_date="2026-11-05", termination_date="2027-01-20")
    assert bill(data, "2027-01").lines[-1].quantity == 10


def test_late_notice_defers_termination_three_months():
    data = scc(termination_date="2027-02-15", termination_notice_date="2027-01-10")
    assert parse_contract(data).termination == date(2027, 4, 10)
    assert bill(data, "2027-02").subtotal == MONTHLY
    assert bill(data, "2027-04").lines[-1].quantity == 6  # 2027-05 … 2027-10


def test_notice_at_month_end_lands_on_the_shorter_months_last_day():
    data = scc(termination_date="2027-11-30", termination_notice_date="2027-11-30")
    assert parse_contract(data).termination == date(2028, 2, 29)
    early = scc(termination_date="2026-11-30", termination_notice_date="2026-11-30")
    assert parse_contract(early).termination == date(2027, 2, 28)


def test_timely_notice_keeps_the_requested_date():
    data = scc(termination_date="2027-12-31", termination_notice_date="2027-09-30")
    assert parse_contract(data).termination == date(2027, 12, 31)


def test_outage_shorter_than_72_hours_is_not_exempt():
    data = scc(outages=[outage("2026-12-03T10:00:00+09:00", "2026-12-06T09:59:59+09:00")])
    assert bill(data, "2026-12").subtotal == MONTHLY


def test_each_whole_72_hours_exempts_3_days():
    data = scc(outages=[outage("2026-11-01T00:00:00+09:00", "2026-11-07T23:00:00+09:00")])  # 167 h
    assert amounts(bill(data, "2026-11"))[-1] == ("scc.outage_credit", -5_700)  # floor(28,500 × 6/30)


def test_outage_credit_goes_to_the_month_the_outage_ended_in_tokyo():
    # Restored 2026-11-30T16:00Z = 2026-12-01 01:00 JST → December, 3 days of 31.
    data = scc(outages=[outage("2026-11-27T00:00:00Z", "2026-11-30T16:00:00Z")])
    assert bill(data, "2026-11").subtotal == MONTHLY
    assert amounts(bill(data, "2026-12"))[-1] == ("scc.outage_credit", -2_758)


def test_outages_ending_in_one_month_are_summed_before_truncating():
    two = [
        outage("2026-12-01T00:00:00+09:00", "2026-12-04T00:00:00+09:00"),
        outage("2026-12-10T00:00:00+09:00", "2026-12-13T00:00:00+09:00"),
    ]
    # One camera: monthly 15,000. floor(15,000 × 6/31) = 2,903; truncating each 3 days: 2 × 1,451 = 2,902.
    assert amounts(bill(scc(cameras=1, outages=two), "2026-12"))[-1] == ("scc.outage_credit", -2_903)


def test_outage_credit_never_exceeds_the_month():
    data = scc(outages=[outage("2026-11-01T00:00:00+09:00", "2026-12-15T00:00:00+09:00")])  # 44 days
    assert bill(data, "2026-12").subtotal == 0


def test_no_exemption_for_an_outage_during_a_customer_suspension():
    data = scc(
        outages=[outage("2026-12-03T10:00:00+09:00", "2026-12-07T10:00:00+09:00")],
        suspensions=[{"start": "2026-12-01", "end": "2026-12-05"}],
    )
    assert bill(data, "2026-12").subtotal == MONTHLY


def test_no_exemption_before_billing_starts():
    data = scc(outages=[outage("2026-10-28T00:00:00+09:00", "2026-10-31T12:00:00+09:00")])  # 84 h
    assert "scc.outage_credit" not in dict(amounts(bill(data, "2026-10")))
