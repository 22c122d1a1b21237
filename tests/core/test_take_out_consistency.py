"""A batch taken out leaves the rollups and the counts as if it had never come: a late batch (older than
its tenant's retention) keeps its raw rows until any take-out of it is over, so the take-out has rows to
negate, whether its group failed or ``recover`` takes out a crashed attempt; and a pair whose sums the
take-out cancelled is counted (and exported) the same before and after the merge that drops it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from coretest import T0, fail_commit_markers, flow, make_batch
from sqlalchemy import create_engine
from storetemplate import migrated

from core.export import retention, tenant
from core.ingest import Ingestor
from core.stats.periods import Period
from core.stats.traffic import ot_functions, protocols
from core.store.clickhouse import ClickHouseStore
from sensor import wire

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ROLLUPS = ("traffic_1m", "pairs_1h")
KEPT_PAIRS = "pairs_1d"  # an AggregatingMergeTree: a pair whose sums a take-out cancelled stays a row


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    with ClickHouseStore(f"chdb://{migrated(tmp_path_factory.mktemp('store'))}/clickhouse") as store:
        store.migrate()  # (nothing left to do: the template is migrated)
        yield store


def traffic(ch: ClickHouseStore, tenant_id: int) -> dict[str, int]:
    """The tenant's bytes per rollup and its raw flow rows."""
    out = {t: ch.query(f"SELECT sum(bytes) AS b FROM {t} WHERE tenant_id = {{t:UInt32}}", {"t": tenant_id})[0]["b"]
           for t in ROLLUPS}
    return out | {"flows": ch.query("SELECT count() AS n FROM flows WHERE tenant_id = {t:UInt32}",
                                    {"t": tenant_id})[0]["n"]}


def late_batch() -> wire.Batch:
    """A minute five days ago: older than a two-day retention when it arrives."""
    start = NOW - timedelta(days=5)
    return make_batch([flow(ts=start, nbytes=700)], start=start)


def test_a_late_batch_whose_group_failed_is_taken_out_of_the_rollups(ch, monkeypatch):
    ingest = Ingestor(ch, retention=lambda t: 2)
    fail_commit_markers(monkeypatch, ingest, "marker lost")
    body = wire.encode(late_batch())
    with pytest.raises(RuntimeError, match="marker lost"):
        ingest.ingest(1, 1, body)
    assert traffic(ch, 1) == {"traffic_1m": 0, "pairs_1h": 0, "flows": 0}
    monkeypatch.undo()
    assert ingest.ingest(1, 1, body).status == "stored"  # the resend: once, not twice
    assert traffic(ch, 1) == {"traffic_1m": 700, "pairs_1h": 700, "flows": 1}


def test_a_late_batch_a_crash_left_half_stored_is_taken_out_by_recover(ch, monkeypatch):
    ingest = Ingestor(ch, retention=lambda t: 2)
    fail_commit_markers(monkeypatch, ingest, "marker lost")

    def killed(attempts):
        raise RuntimeError("killed before the take-out")
    monkeypatch.setattr(ingest, "_take_out", killed)
    with pytest.raises(RuntimeError, match="marker lost"):  # rows stored, no marker, not taken out: a crash
        ingest.ingest(2, 1, wire.encode(late_batch()))
    assert traffic(ch, 2) == {"traffic_1m": 700, "pairs_1h": 700, "flows": 1}
    assert Ingestor(ch).recover(older_than=timedelta(0)) == 1
    assert traffic(ch, 2) == {"traffic_1m": 0, "pairs_1h": 0, "flows": 0}


def test_a_late_batchs_raw_rows_outlive_its_arrival_then_follow_the_retention():
    start = NOW - timedelta(days=5)
    assert retention.days_kept(NOW - timedelta(hours=1), 2, NOW) == 2  # on time: the tenant's retention
    kept = retention.days_kept(start, 2, NOW)
    assert start + timedelta(days=kept) >= NOW + retention.TAKE_OUT_GRACE > start + timedelta(days=kept - 1)
    assert retention.days_kept(start, 0, NOW) == 0  # kept for good


def test_a_pair_taken_out_is_counted_the_same_before_and_after_the_merge(ch, monkeypatch, tmp_path):
    ingest = Ingestor(ch)
    assert ingest.ingest(3, 1, wire.encode(make_batch([flow(), flow(resp_h="10.0.0.3")]))).status == "stored"
    fail_commit_markers(monkeypatch, ingest, "marker lost")
    later = T0 + timedelta(hours=2)
    with pytest.raises(RuntimeError):  # a new pair in a new minute, taken out again: their sums cancel
        ingest.ingest(3, 1, wire.encode(make_batch([flow(resp_h="10.0.0.4", ts=later)], start=later)))
    before = tenant.row_counts(ch, 3)
    # the ClickHouse part of the tenant's export (a control plane without tables adds nothing)
    exported = tenant.export_tenant(ch, create_engine("sqlite://"), 3, "acme", tmp_path / "export")
    for table in (*ROLLUPS, KEPT_PAIRS):
        ch.command(f"OPTIMIZE TABLE {table} FINAL")
    after = tenant.row_counts(ch, 3)
    # the taken-out pair and minute are not rows
    assert (before["pairs_1h"], before["traffic_1m"], before[KEPT_PAIRS]) == (2, 1, 2)
    assert after == before
    rows = {f["path"]: f["rows"] for f in exported["files"]}
    assert [rows[f"clickhouse/{t}.parquet"] for t in (*ROLLUPS, KEPT_PAIRS)] == [
        before[t] for t in (*ROLLUPS, KEPT_PAIRS)]


def test_a_batch_taken_out_adds_no_site_or_device_to_the_statistics(ch, monkeypatch):
    ingest = Ingestor(ch)
    fail_commit_markers(monkeypatch, ingest, "marker lost")
    with pytest.raises(RuntimeError):  # a flow and a Modbus event, taken out
        ingest.ingest(5, 1, wire.encode(make_batch([flow(orig_h="10.5.0.1", resp_h="10.5.0.2")])))
    period = Period("test", T0 - timedelta(days=1), T0 + timedelta(days=1))
    for table in (protocols(ch, period, [5]), ot_functions(ch, period, [5])):
        assert not table.cells, (table.name, table.cells)


def test_the_sums_read_are_the_ones_each_summing_table_declares(ch):
    """``nonzero`` takes the numeric columns outside the key: what each of our SummingMergeTree names."""
    declared = {r["name"]: r["engine_full"] for r in ch.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%Summing%'")}
    assert set(declared) >= set(ROLLUPS)
    for table in ch.tenant_tables():
        if table["name"] in declared:
            columns = re.search(r"SummingMergeTree\(\((.*?)\)\)", declared[table["name"]]).group(1)
            named = {c.strip() for c in columns.split(",")}
            assert set(re.findall(r"`(\w+)` != 0", tenant.nonzero(table))) == named, table["name"]



@pytest.mark.parametrize("grace_over", [False, True])
def test_a_redate_keeps_a_late_batchs_grace_until_it_is_over(ch, monkeypatch, grace_over):
    """A late batch a crash left half stored, then its tenant's retention set again (``tenants set``, or
    a new default at start): within its grace its rows stay for ``recover`` to take out; once the grace
    is over the re-date gives them the retention, and they go at the next merge."""
    tenant_id = 6 + grace_over
    ingest = Ingestor(ch, retention=lambda t: 2)
    fail_commit_markers(monkeypatch, ingest, "marker lost")
    monkeypatch.setattr(ingest, "_take_out", lambda attempts: None)  # the core dies before the take-out
    with pytest.raises(RuntimeError, match="marker lost"):
        ingest.ingest(tenant_id, 1, wire.encode(late_batch()))
    later = datetime.now(UTC) + retention.TAKE_OUT_GRACE * grace_over
    retention.redate(ch, tenant_id, 2, now=later)
    ch.command("OPTIMIZE TABLE flows FINAL")  # a merge drops the rows past their retention
    left = traffic(ch, tenant_id)
    if grace_over:
        assert left == {"traffic_1m": 700, "pairs_1h": 700, "flows": 0}
        return
    assert left == {"traffic_1m": 700, "pairs_1h": 700, "flows": 1}
    assert Ingestor(ch).recover(older_than=timedelta(0)) >= 1
    assert traffic(ch, tenant_id) == {"traffic_1m": 0, "pairs_1h": 0, "flows": 0}
