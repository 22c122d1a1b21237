"""k-anonymous suppression (core.export.anonymity) and the statistics' periods, on hand-made cells."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.export.anonymity import COMPLEMENTARY, FEW_DEVICES, FEW_TENANTS, OTHER, WHOLE_TABLE, Cell, passes, suppress
from core.stats.periods import periods

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass


def cell(label: str, tenants: range, devices_each: int, flows: int = 0) -> Cell:
    made = Cell("", label)
    for t in tenants:
        for d in range(devices_each):
            made.add(t, f"{label}-{d}", flows=flows / len(tenants) / devices_each)
    return made


def test_a_cell_of_one_tenant_goes_into_other_with_the_smallest_published_cell():
    lone = cell("omron", range(1, 2), 2, flows=7)
    table = [lone, cell("siemens", range(1, 6), 10, flows=500), cell("rockwell", range(2, 6), 5, flows=200),
             cell("moxa", range(3, 6), 4, flows=120)]
    out = suppress(table, k=3, m=10)
    assert [c.label for c in out.published] == ["rockwell", "siemens"]
    assert out.reasons == {FEW_TENANTS: 1, COMPLEMENTARY: 1}
    # other = omron + moxa: its value says nothing of omron alone, and it meets k and m itself
    assert out.other.label == OTHER and passes(out.other, 3, 10)
    assert out.other.sums["flows"] == pytest.approx(127) and len(out.other.devices) == 2 + 12
    total = sum(c.sums["flows"] for c in table)
    assert total - sum(c.sums["flows"] for c in out.published) == pytest.approx(out.other.sums["flows"])


def test_failing_cells_that_together_pass_need_no_complement():
    table = [cell("a", range(1, 2), 6), cell("b", range(2, 3), 6), cell("c", range(3, 4), 1),
             cell("big", range(1, 10), 10)]
    out = suppress(table, k=3, m=10)
    assert [c.label for c in out.published] == ["big"] and len(out.other.tenants) == 3
    assert out.reasons == {FEW_TENANTS: 3}


def test_a_table_too_small_publishes_nothing_not_even_its_total():
    out = suppress([cell("a", range(1, 3), 20), cell("b", range(1, 3), 1)], k=3, m=10)
    assert out.published == [] and out.other is None
    assert out.reasons == {FEW_TENANTS: 2, WHOLE_TABLE: 1}


def test_devices_count_as_well_as_tenants():
    out = suppress([cell("few", range(1, 5), 2), cell("many", range(1, 5), 10), cell("more", range(1, 5), 12)],
                   k=3, m=10)
    assert out.reasons == {FEW_DEVICES: 1, COMPLEMENTARY: 1} and [c.label for c in out.published] == ["more"]


def test_nothing_to_suppress():
    out = suppress([cell("a", range(1, 4), 5)], k=3, m=10)
    assert [c.label for c in out.published] == ["a"] and out.other is None and not out.reasons


def test_periods_are_utc_months_and_iso_weeks():
    months = periods(date(2026, 1, 15), date(2026, 3, 1), "month")
    assert [p.name for p in months] == ["2026-01", "2026-02", "2026-03"]
    assert months[1].start == datetime(2026, 2, 1, tzinfo=UTC) and months[1].end == datetime(2026, 3, 1, tzinfo=UTC)
    weeks = periods(date(2026, 12, 30), date(2027, 1, 5), "week")
    assert [p.name for p in weeks] == ["2026-W53", "2027-W01"]  # 2026 has 53 ISO weeks
    assert weeks[0].start == datetime(2026, 12, 28, tzinfo=UTC)
    assert [p.name for p in periods(date(2026, 12, 1), date(2026, 12, 31), "month")] == ["2026-12"]
    for bad in ((date(2026, 2, 1), date(2026, 1, 1), "month"), (date(1900, 1, 1), date(2026, 1, 1), "month"),
                (date(2026, 1, 1), date(2106, 1, 1), "week"), (date(2026, 1, 1), date(2026, 2, 1), "day")):
        with pytest.raises(ValueError):
            periods(*bad)
