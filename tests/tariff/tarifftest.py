"""Helpers for the tariff tests: the spec's example contract files (spec §4), builders, invoicing."""

from __future__ import annotations

import copy

from tariff.calendar import Month
from tariff.contracts import parse_contract
from tariff.invoice import Invoice, invoice

# Verbatim from specs/tariff.md §4.
C1 = {
    "contract_id": "C-1",
    "plan": "osect",
    "desired_opening_date": "2026-12-01",
    "equipment_delivered_date": "2026-11-13",
    "installation_completed_date": "2026-11-20",
    "opening_test_completed_date": "2026-11-27",
    "termination_date": None,
    "sensors": 2,
    "sensor_changes": [{"date": "2027-02-10", "count": 3}],
}
S1 = {
    "contract_id": "S-1",
    "plan": "secure-camera-cloud",
    "camera_type": "network",
    "contract_date": "2026-10-20",
    "installation_date": "2026-10-28",
    "service_start_date": None,
    "cameras": 4,
    "ip_vpn_ids": 3,
    "storage_units": 2,
    "termination_date": None,
    "outages": [{"aware_at": "2026-12-03T10:00:00+09:00", "restored_at": "2026-12-07T10:00:00+09:00"}],
}


def osect(**overrides) -> dict:
    """C-1 without its sensor change, with overrides."""
    return {**copy.deepcopy(C1), "sensor_changes": [], **overrides}


def scc(**overrides) -> dict:
    """S-1 without its outage, with overrides."""
    return {**copy.deepcopy(S1), "outages": [], **overrides}


def monthly(plan: str = "dot-i", **overrides) -> dict:
    """A dot-i (or CTS) contract at 10,000 yen a month from 2026-04-15, with overrides."""
    return {"contract_id": "M-1", "plan": plan, "monthly_fee": 10_000, "start_date": "2026-04-15", **overrides}


def ciero(**overrides) -> dict:
    """A Ciero contract at 120,000 yen a year from 2026-04-01, with overrides."""
    return {"contract_id": "P-1", "plan": "ciero", "annual_fee": 120_000, "start_date": "2026-04-01", **overrides}


def bill(data: dict, month: str) -> Invoice:
    return invoice(parse_contract(data), Month.parse(month))


def amounts(inv: Invoice) -> list[tuple[str, int]]:
    return [(line.code, line.amount) for line in inv.lines]
