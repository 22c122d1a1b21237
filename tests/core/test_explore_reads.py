"""The explorer's first page (explore.search, which GET /api/v1/explore/* and the /flows and /events
pages call) reads only the part of the store that holds it: with the result's timeline, a first page in
time order asks for the newest (or oldest) buckets only; a page by another column reads that column alone
for the page's last value, then the rows at or past it only. ClickHouse's index analysis of the very
query that ran (EXPLAIN ESTIMATE: the rows of the granules it selects) shows it reads those granules,
not the whole window's — on hours of flows, one part of several granules."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from coretest import T0, flow, make_batch
from storetemplate import migrated

from core.analytics import explore
from core.analytics.window import Window
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore
from sensor import wire

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

HOURS, PER_HOUR = 10, 4000  # 40,000 flows: five granules of 8,192 rows once merged into one part
WINDOW = Window(T0, T0 + timedelta(hours=HOURS))
RECORDS = HOURS * PER_HOUR


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    """A store with a minute of flows at the start of each hour, bytes growing hour by hour (many flows
    of an hour alike), merged into one part (its granules then do not depend on when background merges ran)."""
    with ClickHouseStore(f"chdb://{migrated(tmp_path_factory.mktemp('store'))}/clickhouse") as store:
        ingest = Ingestor(store)
        for hour in range(HOURS):
            start = T0 + timedelta(hours=hour)
            flows = [flow(orig_h=f"10.1.{i // 250}.{i % 250}", ts=start + timedelta(milliseconds=15 * i),
                          nbytes=1000 * (hour + 1) + 2 * (i % 50)) for i in range(PER_HOUR)]
            assert ingest.ingest(1, 1, wire.encode(make_batch(flows, start=start))).status == "stored"
        store.command("OPTIMIZE TABLE flows FINAL")
        yield store


@pytest.fixture
def estimates(ch, monkeypatch) -> list[dict]:
    """From now on, ClickHouse's estimate of what each page query (the one with a LIMIT) reads, as it runs."""
    seen, query = [], ch.client.query

    def estimated(sql, parameters=None, **kw):
        if "LIMIT" in sql:
            (estimate,) = query("EXPLAIN ESTIMATE " + sql, parameters=parameters).named_results()
            seen.append(estimate | {"query": sql})
        return query(sql, parameters=parameters, **kw)

    monkeypatch.setattr(ch.client, "query", estimated)
    return seen


@pytest.mark.parametrize("descending", [True, False])
def test_the_first_page_in_time_order_reads_only_the_granules_of_its_buckets(ch, estimates, descending):
    sort, filters = explore.Sort("ts", descending), explore.Filters(WINDOW)
    found = explore.search(ch, explore.FLOWS, 1, filters, sort, 100)
    whole_window = explore.page(ch, explore.FLOWS, 1, filters, sort, 100)  # a page read without the timeline
    first, everything = estimates
    assert found.count == RECORDS and found.page == whole_window
    assert everything["rows"] == RECORDS  # reading the window shows: every granule
    # the page's hour of flows lies in at most two granules of the part
    assert first["marks"] <= 2 < everything["marks"] and first["rows"] <= HOURS * PER_HOUR / 2


def test_a_page_past_the_first_in_time_order_reads_the_window(ch, estimates):
    """Only a first page in time order can be narrowed by the timeline: a later page starts at its cursor."""
    filters = explore.Filters(WINDOW)
    first = explore.search(ch, explore.FLOWS, 1, filters, explore.Sort(), 100)
    explore.search(ch, explore.FLOWS, 1, filters, explore.Sort(), 100, first.page.next_cursor)
    assert [e["rows"] for e in estimates[1:]] == [RECORDS]


def unbounded(ch, monkeypatch, *args) -> explore.Page:
    """The page as the whole window's sort reads it (no bound from the sort column's top)."""
    with monkeypatch.context() as patch:
        patch.setattr(explore, "_bound", lambda *_: "")
        return explore.page(ch, *args)


@pytest.mark.parametrize("sort", ["-orig_bytes", "orig_bytes", "-resp_bytes", "-orig_pkts"])
def test_a_page_by_another_column_reads_only_the_granules_that_reach_its_last_value(ch, estimates, monkeypatch, sort):
    """The sort column read alone gives the page's last value; the page then reads only the granules whose
    minmax index reaches it (migration 024): bytes grow hour by hour, so the largest (smallest) are in the
    last (first) hour's granules. Deeper pages (a cursor) are read the same way, and are the whole window's."""
    order, filters = explore.sort_of(explore.FLOWS, sort), explore.Filters(WINDOW)
    page = explore.page(ch, explore.FLOWS, 1, filters, order, 100)
    bound, *_, rows = estimates  # the column, the time among its ties (when tied), the page
    estimates.clear()
    deeper = explore.page(ch, explore.FLOWS, 1, filters, order, 100, page.next_cursor)
    deeper_bound, *_, deeper_rows = estimates
    assert bound["rows"] == deeper_bound["rows"] == RECORDS  # the column: every granule (its top skips some)
    assert rows["marks"] <= 2 < bound["marks"] and deeper_rows["marks"] <= 2
    assert page == unbounded(ch, monkeypatch, explore.FLOWS, 1, filters, order, 100)
    assert deeper == unbounded(ch, monkeypatch, explore.FLOWS, 1, filters, order, 100, page.next_cursor)


@pytest.mark.parametrize("sort", ["-orig_bytes", "orig_bytes", "-orig_pkts"])
def test_a_first_page_by_another_column_is_bounded_by_its_first_buckets(ch, estimates, monkeypatch, sort):
    """With the timeline, the (column, time) of the first buckets' last row that fits bounds the page: its
    read selects the granules that reach the bound only, and it is the whole window's page."""
    order, filters = explore.sort_of(explore.FLOWS, sort), explore.Filters(WINDOW)
    monkeypatch.setattr(explore, "SAMPLE", 4)  # 404 rows: the newest (oldest) of the hours' 4,000 a minute
    found = explore.search(ch, explore.FLOWS, 1, filters, order, 100)
    part, *guessed, rows = estimates  # (the guess: the largest bytes' 80 rows, too few for the page)
    assert all(e["marks"] <= 2 for e in (part, *guessed, rows))
    assert found.page == unbounded(ch, monkeypatch, explore.FLOWS, 1, filters, order, 100)


def test_an_upgraded_store_indexes_the_parts_it_holds(ch, estimates):
    """A store whose records came in before migration 024: migrating adds the indexes to the parts already
    written (a background mutation), and a page by bytes reads only the granules that reach its bound again."""
    for table in ("flows", "events"):
        for index in ch.query("SELECT name FROM system.data_skipping_indices WHERE table = {t:String}"
                              " AND type = 'minmax'", {"t": table}):
            ch.command(f"ALTER TABLE {table} DROP INDEX {index['name']}")
    ch.command("DELETE FROM schema_migrations WHERE version = 24")
    order, filters = explore.sort_of(explore.FLOWS, "-orig_bytes"), explore.Filters(WINDOW)
    before = explore.page(ch, explore.FLOWS, 1, filters, order, 100)
    assert estimates[-1]["rows"] == RECORDS  # no index: every granule
    assert ch.migrate() == [24]
    for _ in range(300):
        if not ch.query("SELECT 1 FROM system.mutations WHERE NOT is_done"):
            break
        time.sleep(0.1)
    estimates.clear()
    assert explore.page(ch, explore.FLOWS, 1, filters, order, 100) == before
    assert estimates[-1]["marks"] <= 2


@pytest.fixture(scope="module")
def spread(ch) -> Window:
    """Tenant 2's ten hours of flows (400 an hour) a month after tenant 1's (another partition: its parts are not
    merged with theirs), whose durations are spread evenly over them, but the first hour's, which are the
    shortest; their window."""
    ingest, per_hour, start = Ingestor(ch), 400, T0 + timedelta(days=40)
    for hour in range(HOURS):
        durations = [i / 1000 if hour == 0 else 1 + (hour * per_hour + i) * 7919 % (HOURS * per_hour) / 1000
                     for i in range(per_hour)]
        flows = [flow(orig_h=f"10.2.0.{i % 250}", ts=start + timedelta(hours=hour, seconds=i / 10), duration=d)
                 for i, d in enumerate(durations)]
        batch = make_batch(flows, start=start + timedelta(hours=hour))
        assert ingest.ingest(2, 2, wire.encode(batch)).status == "stored"
    return Window(start, start + timedelta(hours=HOURS))


@pytest.mark.parametrize("descending", [True, False])
def test_a_first_page_by_evenly_spread_values_is_read_past_a_guess(ch, spread, monkeypatch, descending):
    """Durations spread evenly over the hours (at 100 M flows every granule then holds some past the first buckets'
    bound, which rules none out): the page is first read past the value that, were the window like its first
    buckets, twice its rows reach. The newest hour is like the window: that read holds the page. The oldest hour
    holds the shortest only: too few reach its guess, and the page is read up to the bound. Either way it is the
    whole window's page."""
    monkeypatch.setattr(explore, "SAMPLE", 4)  # 152 rows: the first buckets are one hour, a tenth of the rows
    seen, query = [], ch.query

    def logged(sql, params=None):
        rows = query(sql, params)
        seen.append((sql, len(rows)))
        return rows

    monkeypatch.setattr(ch, "query", logged)
    order, filters = explore.Sort("duration", descending), explore.Filters(spread)
    found = explore.search(ch, explore.FLOWS, 2, filters, order, 37)
    (held,) = [n for sql, n in seen if "{guess:" in sql]
    assert (held == 38) == descending  # else fewer than the page past it: read up to the bound
    monkeypatch.undo()
    assert found.page == unbounded(ch, monkeypatch, explore.FLOWS, 2, filters, order, 37)


@pytest.fixture(scope="module")
def tiers(ch) -> Window:
    """Tenant 3's ten hours of flows (4,000 in the first minute of each hour) two months after tenant 1's, one in
    two hundred of them larger, merged into one part of five granules; their window."""
    ingest, per_hour, start = Ingestor(ch), 4000, T0 + timedelta(days=80)
    for hour in range(HOURS):
        flows = [flow(orig_h=f"10.3.0.{i % 250}", ts=start + timedelta(hours=hour, seconds=i / 80),
                      nbytes=2000 + 2 * (i % 200 == 0)) for i in range(per_hour)]
        batch = make_batch(flows, start=start + timedelta(hours=hour))
        assert ingest.ingest(3, 3, wire.encode(batch)).status == "stored"
    ch.command(f"OPTIMIZE TABLE flows PARTITION ID '{start:%Y%m}' FINAL")
    return Window(start, start + timedelta(hours=HOURS))


def test_a_first_page_past_a_guess_reads_its_rows_granules_only(ch, tiers, estimates, monkeypatch):
    """The larger flows lie in every granule, so the guess (their size) rules none out: read as (bytes, time) alone
    it gives the page's last row, and the page's columns are read from the granules of its rows only (the last two
    hours'), not from every granule past the guess."""
    monkeypatch.setattr(explore, "SAMPLE", 4)  # 152 rows: the newest hour (its 20 larger ones and the rest)
    order, filters = explore.sort_of(explore.FLOWS, "-orig_bytes"), explore.Filters(tiers)
    found = explore.search(ch, explore.FLOWS, 3, filters, order, 37)
    assert any("{guess:" in e["query"] for e in estimates)
    window = ch.query("EXPLAIN ESTIMATE SELECT ts FROM flows WHERE tenant_id = 3")[0]
    assert estimates[-1]["marks"] <= 2 < window["marks"]  # the page's read: every column
    assert found.page == unbounded(ch, monkeypatch, explore.FLOWS, 3, filters, order, 37)


def test_a_guess_with_exactly_the_page_past_it_reads_up_to_the_bound(ch, tiers, monkeypatch):
    """The 200 larger flows past the guess are the page but not the row after it: the guess read does not bound the
    page (its last row is not the result's 201st), so the page and its next cursor come from the first buckets' bound."""
    monkeypatch.setattr(explore, "SAMPLE", 4)  # the newest hour: its 20 larger flows, then the rest
    monkeypatch.setattr(explore, "GUESS", 0.5)  # the guess from among its larger ones: the larger size
    order, filters = explore.sort_of(explore.FLOWS, "-orig_bytes"), explore.Filters(tiers)
    found = explore.search(ch, explore.FLOWS, 3, filters, order, 200)
    assert [row["orig_bytes"] for row in found.page.rows] == [1001] * 200 and found.page.next_cursor
    assert found.page == unbounded(ch, monkeypatch, explore.FLOWS, 3, filters, order, 200)
