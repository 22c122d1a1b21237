"""Contract files: every missing, mistyped, unknown or contradictory field is refused by name."""

from __future__ import annotations

import pytest
from tarifftest import monthly, osect, scc

from tariff.contracts import parse_contract, parse_contract_json
from tariff.errors import InputError


def without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


def changes(*pairs) -> list[dict]:
    return [{"date": d, "count": c} for d, c in pairs]


INVALID = [
    (without(osect(), "contract_id"), "contract_id"),
    (osect(contract_id=""), "contract_id"),
    (osect(plan="osect-pro"), "plan"),
    (without(osect(), "plan"), "plan"),
    (without(osect(), "sensors"), "sensors"),
    (osect(sensors=None), "sensors"),
    (osect(sensors=-1), "sensors"),
    (osect(sensors=0), "sensors"),
    (osect(sensors="2"), "sensors"),
    (osect(sensors=True), "sensors"),
    (osect(sensors=2.0), "sensors"),
    (osect(desired_opening_date="2026-12-32"), "desired_opening_date"),
    (osect(desired_opening_date=20261201), "desired_opening_date"),
    (without(osect(), "equipment_delivered_date"), "equipment_delivered_date"),
    (osect(installation_completed_date="2026-11-01"), "installation_completed_date"),
    (osect(opening_test_completed_date="2026-11-19"), "opening_test_completed_date"),
    (osect(termination_date="2026-11-30"), "termination_date"),
    (osect(termintion_date="2027-01-31"), "termintion_date"),
    (osect(termination_notice_date="2027-01-01", termination_date="2027-03-31"), "termination_notice_date"),
    (osect(sensor_changes={"date": "2027-01-01", "count": 3}), "sensor_changes"),
    (osect(sensor_changes=[3]), "sensor_changes[0]"),
    (osect(sensor_changes=changes(("2027-01-01", -1))), "sensor_changes[0].count"),
    (osect(sensor_changes=changes(("2027-02-01", 3), ("2027-01-01", 4))), "sensor_changes[1].date"),
    (osect(sensor_changes=changes(("2027-02-01", 3), ("2027-02-01", 4))), "sensor_changes[1].date"),
    (
        osect(termination_date="2027-01-31", sensor_changes=changes(("2027-02-01", 3))),
        "sensor_changes[0].date",
    ),
    (osect(sensor_changes=[{"date": "2027-02-01", "count": 3, "note": "x"}]), "sensor_changes[0].note"),
    (scc(camera_type="dome"), "camera_type"),
    (scc(cameras=-4), "cameras"),
    (scc(ip_vpn_ids=-1), "ip_vpn_ids"),
    (without(scc(), "storage_units"), "storage_units"),
    (scc(installation_date="2026-10-19"), "installation_date"),
    (scc(service_start_date="2026-10-27"), "service_start_date"),
    (scc(termination_date="2026-10-27"), "termination_date"),
    (scc(service_start_date="2026-11-05", termination_date="2026-11-04"), "termination_date"),
    (scc(termination_notice_date="2027-01-01"), "termination_date"),
    (scc(termination_date="2027-01-31", termination_notice_date="2027-02-01"), "termination_notice_date"),
    (
        scc(outages=[{"aware_at": "2026-12-03T10:00:00", "restored_at": "2026-12-07T10:00:00+09:00"}]),
        "outages[0].aware_at",
    ),
    (
        scc(outages=[{"aware_at": "2026-12-03T10:00:00+09:00", "restored_at": "2026-12-03T09:00:00+09:00"}]),
        "outages[0].restored_at",
    ),
    (scc(outages=[{"aware_at": "2026-12-03T10:00:00+09:00"}]), "outages[0].restored_at"),
    (scc(suspensions=[{"start": "2026-12-05", "end": "2026-12-01"}]), "suspensions[0].end"),
    (without(monthly(), "monthly_fee"), "monthly_fee"),
    (monthly(monthly_fee=-1), "monthly_fee"),
    (monthly(termination_date="2026-04-14"), "termination_date"),
    (monthly(camera_type="network"), "camera_type"),
    ([1, 2], "contract"),
    ("C-1", "contract"),
]


@pytest.mark.parametrize(
    ("data", "field"), INVALID, ids=[f"{i}-{field}" for i, (_, field) in enumerate(INVALID)]
)
def test_invalid_contract_names_the_field(data, field):
    with pytest.raises(InputError) as err:
        parse_contract(data)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ") and "\n" not in str(err.value)


def test_invalid_json_is_refused_as_the_contract():
    with pytest.raises(InputError) as err:
        parse_contract_json('{"contract_id": "C-1",')
    assert err.value.field == "contract"


def test_nullable_fields_may_be_left_out():
    data = {
        k: v
        for k, v in osect().items()
        if k not in ("termination_date", "sensor_changes", "opening_test_completed_date")
    }
    assert parse_contract(data).termination is None
