"""Properties that must hold for any contract, checked with hypothesis."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tarifftest import osect, scc

from tariff.calendar import Month
from tariff.contracts import parse_contract
from tariff.interest import late_interest
from tariff.invoice import invoice
from tariff.money import tax_rate
from tariff.opening import derive_opening
from tariff.plans import osect as osect_plan

days = st.dates(min_value=date(2019, 1, 1), max_value=date(2034, 12, 31))


@st.composite
def opening_inputs(draw):
    desired = draw(days)
    delivered = desired + timedelta(days=draw(st.integers(-40, 20)))
    installed = draw(st.none() | st.integers(0, 20).map(lambda n: delivered + timedelta(days=n)))
    tested = draw(st.none() | st.integers(0, 20).map(lambda n: (installed or delivered) + timedelta(days=n)))
    return desired, delivered, installed, tested


@st.composite
def osect_contracts(draw, with_changes=True):
    desired, delivered, installed, tested = draw(opening_inputs())
    opened = derive_opening(desired, delivered, installed, tested).opening_date
    termination = draw(st.none() | st.integers(0, 900).map(lambda n: opened + timedelta(days=n)))
    last = termination or opened + timedelta(days=900)
    change_days = draw(
        st.lists(st.integers(1, (last - opened).days or 1), max_size=4 if with_changes else 0, unique=True)
    )
    changes = [
        {"date": (opened + timedelta(days=n)).isoformat(), "count": draw(st.integers(1, 30))}
        for n in sorted(change_days)
        if opened + timedelta(days=n) <= last
    ]
    data = osect(
        desired_opening_date=desired.isoformat(),
        equipment_delivered_date=delivered.isoformat(),
        installation_completed_date=installed and installed.isoformat(),
        opening_test_completed_date=tested and tested.isoformat(),
        termination_date=termination and termination.isoformat(),
        sensors=draw(st.integers(1, 30)),
        sensor_changes=changes,
    )
    return parse_contract(data)


def months(first: date, last: date):
    month = Month.of(first)
    while month <= Month.of(last):
        yield month
        month = month.plus(1)


def monthly_fee(contract, month: Month) -> int:
    return sum(line.amount for line in contract.lines(month) if line.code == "osect.monthly")


@given(opening_inputs())
def test_opening_date_is_never_earlier_than_desired(inputs):
    result = derive_opening(*inputs)
    assert result.opening_date >= result.desired
    assert (result.opening_date - result.desired).days == max(
        result.shipping_delay_days, result.test_delay_days
    )


@settings(max_examples=60)
@given(osect_contracts(with_changes=False))
def test_a_full_osect_month_is_the_monthly_fee_times_sensors(contract):
    ((_, sensors),) = contract.sensors
    opened, end = contract.opening.opening_date, contract.termination or date(2037, 12, 31)
    full = [month for month in months(opened, end) if opened <= month.first and month.last <= end]
    assume(full)  # a contract ended within its opening month has none: not an example of this
    for month in full:
        assert monthly_fee(contract, month) == osect_plan.MONTHLY_FEE * sensors


@settings(max_examples=60)
@given(osect_contracts())
def test_prorated_osect_months_never_exceed_a_full_month(contract):
    most = max(count for _, count in contract.sensors)
    for month in months(contract.opening.opening_date, contract.termination or date(2037, 12, 31)):
        inv = invoice(contract, month)
        assert 0 < monthly_fee(contract, month) <= osect_plan.MONTHLY_FEE * most
        assert all(type(line.amount) is int and line.amount >= 0 for line in inv.lines)
        assert inv.tax == int(inv.subtotal * tax_rate(month.first)) and inv.total == inv.subtotal + inv.tax


@settings(max_examples=80)
@given(
    installed=days,
    start_delay=st.integers(0, 60),
    term_after=st.integers(0, 900),
    cameras=st.integers(1, 40),
    ids=st.integers(0, 6),
    storage=st.integers(0, 5),
    thermal=st.booleans(),
    notice_before=st.none() | st.integers(0, 120),
)
def test_at_least_twelve_months_are_billed_under_the_minimum_period(
    installed, start_delay, term_after, cameras, ids, storage, thermal, notice_before
):
    started = installed + timedelta(days=start_delay)
    terminated = started + timedelta(days=term_after)
    notice = None if notice_before is None else max(started, terminated - timedelta(days=notice_before))
    contract = parse_contract(
        scc(
            camera_type="thermal" if thermal else "network",
            contract_date=installed.isoformat(),
            installation_date=installed.isoformat(),
            service_start_date=started.isoformat(),
            termination_date=terminated.isoformat(),
            termination_notice_date=notice and notice.isoformat(),
            cameras=cameras,
            ip_vpn_ids=ids,
            storage_units=storage,
        )
    )
    billed = 0
    for month in months(installed, contract.termination + timedelta(days=400)):
        lines = contract.lines(month)
        billed += any(
            line.code in ("scc.cameras", "scc.basic", "scc.storage", "scc.ip_vpn") for line in lines
        )
        billed += sum(line.quantity for line in lines if line.code == "scc.early_termination")
    assert billed >= 12


@given(
    principal=st.integers(0, 10**9),
    due=days,
    late=st.integers(-10, 2000),
    rate=st.sampled_from([Fraction(145, 1000), Fraction(146, 1000)]),
)
def test_late_interest_is_simple_interest_on_the_days_in_between(principal, due, late, rate):
    result = late_interest(principal, rate, due, due + timedelta(days=late))
    assert result.days == max(0, late - 1)
    assert result.interest * 365 <= principal * rate * result.days < (result.interest + 1) * 365
