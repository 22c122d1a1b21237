"""The ledger by time window (issue 12): answered from the state migration 010 keeps at ingest,
first and last seen to the second, attributes as they stood at the window's end, and no raw table
read (the raw rows are deleted and every answer stays the same); an upgraded store is backfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from coretest import flow, make_batch

from core.analytics.assets import ledger, list_assets
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore
from sensor import wire

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

TENANT, SENSOR = 7, 3
DAY = datetime(2026, 3, 2, tzinfo=UTC)
PLC_MAC, LAPTOP_MAC = "00:1b:1b:00:00:02", "3c:52:82:00:00:50"
LAPTOP_JOINS = DAY + timedelta(minutes=53, seconds=30)  # 00:53:30
LEDGER_TABLES = ("asset_seen_1h", "asset_fact_values", "pair_seen_1h", "event_actions_1h")


def fact(ts, mac, ip, attribute, value, source="dhcp", confidence=80) -> dict:
    return dict(ts=ts, mac=mac, ip=ip, attribute=attribute, value=value, source=source, confidence=confidence)


def plc_minute(start: datetime, firmware: str) -> wire.Batch:
    """The HMI polls the PLC; the PLC's vendor and firmware are observed."""
    return make_batch(flows=[flow(ts=start + timedelta(seconds=5))], start=start, observations=[
        fact(start, PLC_MAC, "10.0.0.2", "vendor", "Siemens", "oui", 90),
        fact(start + timedelta(seconds=7), PLC_MAC, "10.0.0.2", "firmware", firmware, "s7comm", 95)])


def laptop_minute(start: datetime) -> wire.Batch:
    """A laptop gets an address by DHCP at ``start`` and browses the PLC's web server."""
    web = flow("10.0.0.50", "10.0.0.2", "http", ts=start, resp_p=80, uid="Claptop")
    return make_batch(flows=[web], events=[], start=start.replace(second=0), observations=[
        fact(start, LAPTOP_MAC, "10.0.0.50", "hostname", "field-laptop")])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Window A: 00:00–01:00, the PLC (firmware V4.4) and, from 00:53:30, a laptop.
    Window B: 03:00–04:00, the PLC only, now with firmware V4.5."""
    with ClickHouseStore(f"chdb://{tmp_path_factory.mktemp('ledger')}/ch") as ch:
        ch.migrate()
        ingest = Ingestor(ch)
        for batch in (plc_minute(DAY + timedelta(minutes=10), "V4.4"), laptop_minute(LAPTOP_JOINS),
                      plc_minute(DAY + timedelta(hours=3, minutes=20), "V4.5")):
            assert ingest.ingest(TENANT, SENSOR, wire.encode(batch)).status == "stored"
        yield ch


A = (DAY, DAY + timedelta(hours=1))
B = (DAY + timedelta(hours=3), DAY + timedelta(hours=4))


def window(ch, period):
    return ledger(ch, TENANT, start=period[0], end=period[1])


def test_a_device_seen_only_in_one_window_is_absent_from_the_other(store):
    in_a, in_b = window(store, A), window(store, B)
    assert LAPTOP_MAC in in_a and LAPTOP_MAC not in in_b
    assert PLC_MAC in in_a and PLC_MAC in in_b
    assert in_a[LAPTOP_MAC].ips == {"10.0.0.50"} and in_a[LAPTOP_MAC].best("hostname") == "field-laptop"
    # between the windows nothing was seen
    assert window(store, (A[1], B[0])) == {}


def test_first_and_last_seen_are_exact_to_the_second(store):
    laptop = ledger(store, TENANT)[LAPTOP_MAC]
    assert laptop.first_seen == LAPTOP_JOINS  # 00:53:30, not the hour
    assert laptop.last_seen == LAPTOP_JOINS + timedelta(seconds=30)  # its flow record's end
    in_a = window(store, A)[LAPTOP_MAC]
    assert (in_a.first_seen, in_a.last_seen) == (laptop.first_seen, laptop.last_seen)
    # the PLC in window B: from its first fact of that hour to its flow's end, not all history
    plc_b = window(store, B)[PLC_MAC]
    assert plc_b.first_seen == DAY + timedelta(hours=3, minutes=20)
    assert plc_b.last_seen == DAY + timedelta(hours=3, minutes=20, seconds=35)
    # a window cutting through a sighting shows the part inside it
    cut = window(store, (LAPTOP_JOINS + timedelta(seconds=10), A[1]))[LAPTOP_MAC]
    assert cut.first_seen == LAPTOP_JOINS + timedelta(seconds=10)


def test_attributes_are_those_at_the_end_of_the_window(store):
    assert window(store, A)[PLC_MAC].best("firmware") == "V4.4"
    assert window(store, B)[PLC_MAC].best("firmware") == "V4.5"
    assert ledger(store, TENANT)[PLC_MAC].best("firmware") == "V4.5"
    # a fact observed before the window still describes a device seen in it
    late = window(store, (DAY + timedelta(hours=3, minutes=20, seconds=30), B[1]))[PLC_MAC]
    assert late.best("vendor") == "Siemens" and late.best("firmware") == "V4.5"
    assert {a["device"] for a in list_assets(store, TENANT, start=B[0], end=B[1])} == {PLC_MAC, "10.0.0.1"}


def answers(ch) -> list:
    periods = [(None, None), A, B, (A[0], None), (None, B[0]), (LAPTOP_JOINS, LAPTOP_JOINS + timedelta(seconds=1))]
    return [list_assets(ch, TENANT, start=s, end=e) for s, e in periods]


def test_no_raw_table_is_read(store):
    """Delete every raw row after ingest: every window's ledger answers exactly as before."""
    before = answers(store)
    assert any(before) and before[1] != before[2]
    for raw in ("flows", "events", "observations"):
        store.command(f"TRUNCATE TABLE {raw}")
        assert store.query(f"SELECT count() AS n FROM {raw}")[0]["n"] == 0
    assert answers(store) == before


def test_an_upgraded_store_is_backfilled(store):
    """A store whose data came in before migration 010 gets its ledger state from the raw rows.
    (Runs last: it rebuilds the module's store; another tenant, as raw rows were deleted above.)"""
    upgraded = TENANT + 1
    ingest = Ingestor(store)
    for batch in (plc_minute(DAY + timedelta(minutes=10), "V4.4"), laptop_minute(LAPTOP_JOINS)):
        ingest.ingest(upgraded, SENSOR, wire.encode(batch))
    expected = list_assets(store, upgraded)
    for table in LEDGER_TABLES:  # back to the schema before 010
        store.command(f"DROP TABLE {table}_mv")
        store.command(f"DROP TABLE {table}")
    store.command("DELETE FROM schema_migrations WHERE version = 10")
    assert store.migrate() == [10]
    assert all(store.query(f"SELECT count() AS n FROM {t}")[0]["n"] for t in LEDGER_TABLES)
    assert list_assets(store, upgraded) == expected
    assert {a["device"] for a in expected} == {PLC_MAC, LAPTOP_MAC, "10.0.0.1"}
    assert expected[-1]["first_seen"] == LAPTOP_JOINS  # the laptop, exact after the backfill too
