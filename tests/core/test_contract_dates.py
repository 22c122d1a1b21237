"""Completion dates flow from real sensor reports (/api/v1/sensor/installation, /opening-test) into an
OsecT contract and move its opening date exactly as specs/tariff.md §1 says.

Every contract here: desired opening D = 2026-12-01, equipment delivered 2026-11-19, after
bd(D,-9) = 2026-11-17, so a shipping delay of 2 days (opening 2026-12-03, the spec's worked example);
installation deadline bd(D,-4) = 2026-11-25; opening-test deadline bd(D,-2) = 2026-11-27, the test
delay counted from bd(D,-1) = 2026-11-30.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from coretest import OSECT_EXAMPLE, add_user, bearer, make_batch, post_batch, provision, store_contract

from core.access import accounts
from core.billing.contract_dates import SENSOR_COLUMNS
from sensor import wire

DATES = dict.fromkeys(SENSOR_COLUMNS)  # the file leaves both completion dates to the sensors
JST_10AM = 1  # 10:00 in Japan is 01:00 UTC


def utc(day: str, hour: int = JST_10AM, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


class Site:
    """A tenant with a billing user, its sensors and one OsecT contract linked to them."""

    def __init__(self, client, name: str, serials: tuple[str, ...] = (), **document):
        self.client = client
        tenant = provision(client.app, name)  # with sensor SN-<name>
        self.tokens = {f"SN-{name}": tenant.sensor_token}
        with client.app.state.controlplane.sessions() as db:
            owner = accounts.tenant_named(db, name)
            for serial in serials[1:]:
                self.tokens[serial] = accounts.create_sensor(db, owner, serial)[1]
        self.billing = add_user(client.app, name, f"billing@{name}.example", "billing")
        contract = OSECT_EXAMPLE | {"contract_id": f"C-{name}"} | DATES | document
        self.contract = store_contract(client.app, name, contract, tuple(self.tokens))

    def report(self, clock, milestone: str, when: datetime, serial: str | None = None) -> None:
        token = self.tokens[serial or next(iter(self.tokens))]
        clock(when)
        body = None
        if milestone == "opening-test":
            heartbeat = make_batch([], [], [], start=when)
            assert post_batch(self.client, token, wire.encode(heartbeat)).status_code == 200
            body = {"batch_id": heartbeat.batch_id}
        r = self.client.post(f"/api/v1/sensor/{milestone}", headers=bearer(token), json=body)
        assert r.status_code == 200, r.text

    def shown(self) -> dict:
        r = self.client.get(f"/api/v1/billing/contracts/{self.contract}", headers=bearer(self.billing))
        assert r.status_code == 200, r.text
        return r.json()

    def opening(self) -> tuple[str, int, int]:
        o = self.shown()["opening"]
        return o["opening_date"], o["shipping_delay_days"], o["test_delay_days"]

    def december(self) -> int:
        r = self.client.get("/api/v1/billing/invoices", params={"month": "2026-12"}, headers=bearer(self.billing))
        [bill] = r.json()["invoices"]
        return bill["subtotal"]


def test_a_late_opening_test_reported_by_the_sensor_moves_the_opening_date(client, clock):
    site = Site(client, "late-test")
    assert site.opening() == ("2026-12-03", 2, 0)  # nothing reported: only the shipping delay
    assert site.shown()["completion_dates"]["installation_completed_date"] == {
        "date": None, "source": "sensors", "waiting_for": ["SN-late-test"]}
    site.report(clock, "installation", utc("2026-11-20"))
    assert site.opening() == ("2026-12-03", 2, 0)  # test not done yet: provisional
    site.report(clock, "opening-test", utc("2026-12-02"))
    # Test completed 2026-12-02, after bd(D,-2): 12-02 − 11-30 + 1 = 3 days, larger than shipping's 2.
    assert site.opening() == ("2026-12-04", 2, 3)
    shown = site.shown()
    assert shown["completion_dates"]["opening_test_completed_date"] == {
        "date": "2026-12-02", "source": "sensors", "waiting_for": []}
    assert any("opening test completed 2026-12-02" in why for why in shown["opening"]["explanation"])
    assert site.december() == 2 * 250_000 + 120_000 * 28 // 31  # 2 sensors from 12-04: 608,387


def test_reports_count_by_their_date_in_japan(client, clock):
    """23:30 and 00:30 in Japan on either side of the installation deadline (14:30 / 15:30 UTC)."""
    on_time, late = Site(client, "on-time"), Site(client, "too-late")
    on_time.report(clock, "installation", utc("2026-11-25", 14, 30))
    late.report(clock, "installation", utc("2026-11-25", 15, 30))
    for site in (on_time, late):
        site.report(clock, "opening-test", utc("2026-12-02"))
    assert on_time.shown()["completion_dates"]["installation_completed_date"]["date"] == "2026-11-25"
    assert on_time.opening() == ("2026-12-04", 2, 3)
    # Installed after bd(D,-4): the customer was late, so the late test moves nothing (Art. 10-2, 31(16)).
    assert late.shown()["completion_dates"]["installation_completed_date"]["date"] == "2026-11-26"
    assert late.opening() == ("2026-12-03", 2, 0)
    assert late.december() == 612_258  # the spec's worked example


def test_a_contract_waits_for_all_its_sensors_and_takes_the_latest_date(client, clock):
    site = Site(client, "pair", ("SN-pair", "SN-pair-2"))
    site.report(clock, "installation", utc("2026-11-20"), "SN-pair")
    site.report(clock, "opening-test", utc("2026-11-24"), "SN-pair")
    dates = site.shown()["completion_dates"]
    assert dates["opening_test_completed_date"]["waiting_for"] == ["SN-pair-2"]
    site.report(clock, "installation", utc("2026-11-21"), "SN-pair-2")
    site.report(clock, "opening-test", utc("2026-11-28"), "SN-pair-2")  # a Saturday, after bd(D,-2)
    dates = site.shown()["completion_dates"]
    assert dates["installation_completed_date"] == {"date": "2026-11-21", "source": "sensors", "waiting_for": []}
    assert dates["opening_test_completed_date"]["date"] == "2026-11-28"
    assert site.opening() == ("2026-12-03", 2, 1)  # late by less than from bd(D,-1): 1 day; shipping's 2 wins


def test_dates_set_by_billing_staff_win_over_the_sensors(client, clock):
    site = Site(client, "manual",
                installation_completed_date="2026-11-20", opening_test_completed_date="2026-11-27")
    site.report(clock, "installation", utc("2026-11-30"))
    site.report(clock, "opening-test", utc("2026-12-05"))
    dates = site.shown()["completion_dates"]
    assert dates["opening_test_completed_date"] == {"date": "2026-11-27", "source": "contract", "waiting_for": []}
    assert site.opening() == ("2026-12-03", 2, 0)
    assert site.december() == 612_258


def test_a_report_contradicting_the_file_makes_the_contract_unbillable_and_says_why(client, clock):
    site = Site(client, "early", equipment_delivered_date="2026-11-19")
    site.report(clock, "installation", utc("2026-11-18"))  # before the recorded delivery
    shown = site.shown()
    assert shown["opening"] is None
    assert shown["error"] == ("installation_completed_date: 2026-11-18 is before the equipment was delivered "
                              "(2026-11-19) (reported by the contract's sensors SN-early)")
    r = client.get("/api/v1/billing/invoices", params={"month": "2026-12"}, headers=bearer(site.billing)).json()
    assert r["invoices"] == [] and [e["error"] for e in r["errors"]] == [shown["error"]]
    r = client.get("/api/v1/billing/invoices.csv", params={"month": "2026-12"}, headers=bearer(site.billing))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["row"], row["contract_id"], row["description"], row["total"]) for row in rows] == [
        ("error", "C-early", shown["error"], ""), ("run", "", "", "0")]
