"""Results kept between requests (core.analytics.kept) are never stale and are kept per tenant: every
writer of what they read — the tenant's batch, an attempt taken out, an analyst's note, an alert and
its states, comments, indicators, baselines, risk snapshots, an advisory import, a retention pass, the
tenant's deletion — makes the next read compute them again; another tenant's batch and a merge do not.
With nothing changed it is the very same result."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from coretest import T0, bearer, fail_commit_markers, flow, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.analytics import assets, changes, overview, risk, rowcounts
from core.analytics.kept import Kept, Same
from core.analytics.window import Window
from core.api.app import create_app
from core.detect import baseline, indicators
from core.detect import store as alerts
from core.detect.engine import _new_row
from core.detect.kinds import Finding
from core.export import retention, tenant
from core.export.purge import purge_tenant
from core.store import tenant_changes
from core.store.clickhouse import migrations, render
from core.vulns import store as advisories
from sensor import wire

HMI, PLC, NEW = "10.0.0.1", "10.0.0.2", "10.0.0.9"
PLC_KEY = "00:1b:1b:00:00:02"  # the batch's observations name the PLC's MAC
HOURS = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
PERIODS = ((T0 - timedelta(hours=1), T0), (T0, T0 + timedelta(hours=1)))
CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
ALL = {"ledger", "window", "changes", "risk", "counts"}


def _ips(ledger: dict) -> set[str]:
    return {asset.ip for asset in ledger.values()}


def _risk_of(client, token: str, ip: str) -> int:
    rows = client.get("/api/v1/assets", headers=bearer(token)).json()
    return next(r["risk"] for r in rows if r["ip"] == ip)


def _alert(tenant, src=HMI, dst=PLC) -> dict:
    now = int(datetime.now(UTC).timestamp() * 1e6)
    return _new_row(tenant.id, tenant.sensor_id, "t", Finding("plc_stop", f"s7:stop:{dst}", now, now,
                                                              src_ip=src, dst_ip=dst))


@pytest.fixture(scope="module")
def site(module_settings):
    """acme and globex, each with a batch; acme with an alert."""
    with TestClient(create_app(module_settings)) as client:
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        for who, hosts in ((acme, {}), (globex, {"orig_h": "10.9.0.1", "resp_h": "10.9.0.2"})):
            assert post_batch(client, who.sensor_token, wire.encode(make_batch(flows=[flow(**hosts)]))).status_code == 200
        alerts.write(client.app.state.clickhouse, [_alert(acme)])
        yield client, acme, globex


def test_kept_results_follow_every_change_of_their_tenant(site, monkeypatch):
    client = site[0]  # tenants of its own in the module's store
    ch = client.app.state.clickhouse
    acme, globex = provision(client.app, "north"), provision(client.app, "south")
    assert post_batch(client, acme.sensor_token, wire.encode(make_batch(flows=[flow()]))).status_code == 200

    first = assets.ledger(ch, acme.id)
    assert assets.ledger(ch, acme.id) is first  # nothing changed: kept
    assert _ips(first) == {HMI, PLC}
    assert assets.ledger(ch, globex.id) == {}  # per tenant
    window = assets.ledger(ch, acme.id, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
    assert window is not first and _ips(window) == {HMI, PLC}  # per window
    figures = overview.window_stats(ch, acme.id, HOURS, 60)
    assert overview.window_stats(ch, acme.id, HOURS, 60) is figures
    peers = {p["peer"] for p in assets.asset_detail(ch, acme.id, HMI)["peers"]}
    assert peers == {PLC}
    scores = risk.scored(ch, acme.id, first)
    assert risk.scored(ch, acme.id, first) is scores
    before = _risk_of(client, acme.api_token, PLC)

    # an analyst's note: the ledger and the score read it at once
    assets.annotate(ch, acme.id, PLC_KEY, "analyst@acme.example", authorized="unauthorized")
    noted = assets.ledger(ch, acme.id)
    assert noted is not first and noted[PLC_KEY].annotation["authorized"] == "unauthorized"
    assert _risk_of(client, acme.api_token, PLC) > before

    # an alert changes the score, not the ledger
    marked = _risk_of(client, acme.api_token, PLC)
    alerts.write(ch, [_alert(acme)])
    assert assets.ledger(ch, acme.id) is noted
    assert _risk_of(client, acme.api_token, PLC) > marked

    # another tenant's batch leaves this tenant's results as they are
    other = make_batch(flows=[flow(orig_h="10.9.0.1", resp_h="10.9.0.2")])
    assert post_batch(client, globex.sensor_token, wire.encode(other)).status_code == 200
    assert assets.ledger(ch, acme.id) is noted
    assert overview.window_stats(ch, acme.id, HOURS, 60) is figures
    assert {"10.9.0.1", "10.9.0.2"} <= _ips(assets.ledger(ch, globex.id))

    # a new device of this tenant
    newer = make_batch(flows=[flow(resp_h=NEW, uid="Cnew")], start=T0 + timedelta(minutes=1))
    assert post_batch(client, acme.sensor_token, wire.encode(newer)).status_code == 200
    assert NEW in _ips(assets.ledger(ch, acme.id))
    assert {p["peer"] for p in assets.asset_detail(ch, acme.id, HMI)["peers"]} == {PLC, NEW}
    assert overview.window_stats(ch, acme.id, HOURS, 60)["totals"]["batches"] == figures["totals"]["batches"] + 1
    assert NEW in {r["ip"] for r in client.get("/api/v1/assets", headers=bearer(acme.api_token)).json()}

    # risk reads the pairs of the last 30 days up to now: the next hour's score is computed anew
    latest = assets.ledger(ch, acme.id)
    kept = risk.scored(ch, acme.id, latest)
    assert risk.scored(ch, acme.id, latest) is kept

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(hours=1)

    monkeypatch.setattr(risk, "datetime", Later)
    assert risk.scored(ch, acme.id, latest) is not kept


# -- one case per writer -------------------------------------------------------------------------

def _kept(ch, tenant_id: int) -> dict:
    """Every kind of kept result of the tenant, by name."""
    ledger = assets.ledger(ch, tenant_id)
    return {"ledger": ledger, "window": overview.window_stats(ch, tenant_id, HOURS, 60),
            "changes": changes.changes(ch, tenant_id, *PERIODS), "risk": risk.scored(ch, tenant_id, ledger),
            "counts": rowcounts.row_counts(ch, tenant_id)}


_later = count(1)


def _batch(client, who) -> None:
    minutes = next(_later)
    batch = make_batch(flows=[flow(resp_h=f"10.0.1.{minutes}", uid=f"C{minutes}")],
                       start=T0 + timedelta(minutes=minutes))
    assert post_batch(client, who.sensor_token, wire.encode(batch)).status_code == 200


def _taken_out(client, acme, globex, monkeypatch, tmp_path) -> None:
    """A batch whose commit marker fails: its rows are taken out again (ingest's failure path)."""
    ingestor = client.app.state.ingestor
    fail_commit_markers(monkeypatch, ingestor, "the marker could not be written")
    batch = make_batch(flows=[flow(resp_h="10.0.2.1", uid="Cfail")], start=T0 + timedelta(minutes=50))
    with pytest.raises(RuntimeError):
        ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch))
    assert not ingestor.has_batch(acme.id, acme.sensor_id, batch.batch_id)


def _analyst(client, acme, **change) -> None:
    ch = client.app.state.clickhouse
    row = alerts.list_alerts(ch, acme.id)[0]
    if "status" in change:
        change["status"] = "acknowledged" if row["status"] == "new" else "new"
    with client.app.state.controlplane.session() as db:
        assert alerts.update_alert(ch, db, acme.id, row["id"], "analyst@acme.example", **change)


def _indicators(client, acme, globex, monkeypatch, tmp_path) -> None:
    listed = tmp_path / "ioc.csv"
    listed.write_text("type,value,note\nip,203.0.113.7,test\n")
    assert indicators.import_file(client.app.state.clickhouse, listed, tenant_id=acme.id) == (1, 0)


def _advisories(client, acme, globex, monkeypatch, tmp_path) -> None:
    if not CSAF.is_dir():
        pytest.skip("../shared/advisories/csaf is not there")
    advisories.import_path(client.app.state.clickhouse, sorted(CSAF.glob("*.json"))[0])


def _merge(client, acme, globex, monkeypatch, tmp_path) -> None:
    ch = client.app.state.clickhouse
    for table in ch.tenant_tables():
        ch.command(f"OPTIMIZE TABLE {table['name']} FINAL")


def _rollup_retention(client, acme, globex, monkeypatch, tmp_path) -> None:
    retention.apply(client.app.state.clickhouse, retention.Retention(client.app.state.controlplane, 40000),
                    rollup_days=40001)


NOTED = {"ledger", "changes", "risk", "counts"}  # a note: the ledger, what is read from it, the counts
# writer → which of acme's kept results, and which of globex's, it makes computed again
WRITERS = {
    "acme's batch": (lambda c, a, g, m, t: _batch(c, a), ALL, set()),
    "another tenant's batch": (lambda c, a, g, m, t: _batch(c, g), set(), ALL),
    "a note": (lambda c, a, g, m, t: assets.annotate(c.app.state.clickhouse, a.id, PLC_KEY, "analyst@acme.example",
                                                     notes=f"note {next(_later)}"), NOTED, set()),
    "another tenant's note": (lambda c, a, g, m, t: assets.annotate(c.app.state.clickhouse, g.id, "10.9.0.1", "x",
                                                                    notes="theirs"), set(), NOTED),
    "an alert": (lambda c, a, g, m, t: alerts.write(c.app.state.clickhouse, [_alert(a, dst=HMI)]),
                 {"risk", "counts"}, set()),
    "an alert's state": (lambda c, a, g, m, t: _analyst(c, a, status=""), {"risk", "counts"}, set()),
    "a comment": (lambda c, a, g, m, t: _analyst(c, a, comment="seen"), {"counts"}, set()),
    "indicators": (_indicators, {"counts"}, set()),
    "a baseline": (lambda c, a, g, m, t: baseline.add(c.app.state.clickhouse, a.id, [("device", "10.0.0.77", "")], T0),
                   {"counts"}, set()),
    "a risk snapshot": (lambda c, a, g, m, t: risk.site_risk(c.app.state.clickhouse, a.id, [{"risk": 0}]),
                        {"counts"}, set()),
    "an advisory import": (_advisories, {"risk", "counts"}, {"risk", "counts"}),
    "another tenant's retention": (lambda c, a, g, m, t: retention.redate(c.app.state.clickhouse, g.id, 40000),
                                   set(), ALL),
    "acme's retention": (lambda c, a, g, m, t: retention.redate(c.app.state.clickhouse, a.id, 40000), ALL, set()),
    "the rollups' retention": (_rollup_retention, ALL, ALL),
    "a merge of every table": (_merge, set(), set()),
    # after a merge: a merge drops the retracted batch's pairs row (its sums cancel), which the FINAL count
    # of pairs_1h saw before it (the admin count holds that row until the tenant's next change)
    "acme's batch taken out": (_taken_out, ALL, set()),
    "acme's deletion": (lambda c, a, g, m, t: purge_tenant(c.app.state.clickhouse, c.app.state.controlplane.engine,
                                                           a.id, "test"), ALL, set()),
}


def _moved(before: dict, after: dict) -> set[str]:
    return {name for name in after if after[name] is not before[name]}


@pytest.mark.parametrize("writer", WRITERS)  # in this order: the deletion last
def test_each_writer_moves_its_tenants_results_only(site, writer, monkeypatch, tmp_path):
    client, acme, globex = site
    ch = client.app.state.clickhouse
    write, ours, theirs = WRITERS[writer]
    before, other = _kept(ch, acme.id), _kept(ch, globex.id)
    assert _moved(before, _kept(ch, acme.id)) == set()  # nothing changed: kept
    write(client, acme, globex, monkeypatch, tmp_path)
    after = _kept(ch, acme.id)
    assert (_moved(before, after), _moved(other, _kept(ch, globex.id))) == (ours, theirs)
    assert after["counts"] == tenant.row_counts(ch, acme.id)  # kept or computed, exact


def test_every_tenant_table_is_counted_by_a_writer(site):
    """Each table of a tenant's rows is filled from the raw tables (ingest: before the batch's commit
    marker) or counted by a view of migration 021, so the admin counts, kept until any of the tenant's
    counts moves, miss no change."""
    client, *_ = site
    ch = client.app.state.clickhouse
    rows = ch.query("SELECT name, dependencies_table AS views, create_table_query AS sql FROM system.tables"
                    " WHERE database = currentDatabase()")
    target = {r["name"]: re.search(r" TO \S*?(\w+) ", r["sql"]).group(1) for r in rows if " TO " in r["sql"]}
    feeds = {r["name"]: {target[v] for v in r["views"] if v in target} for r in rows}
    filled, todo = set(), ["flows", "events", "observations"]
    while todo:
        table = todo.pop()
        filled.add(table)
        todo += feeds.get(table, set()) - filled
    counted = {name for name, targets in feeds.items() if "tenant_changes" in targets}
    assert {"batches", "alerts", "asset_annotations", "ingest_intents"} <= counted
    assert {t["name"] for t in ch.tenant_tables()} - counted - filled == {"tenant_changes"}


def test_an_ingest_attempt_is_counted_only_when_taken_out(site):
    """A stored batch counts once, with its commit marker; its attempt log row writes nothing into the
    counts (migration 023: a part less a group), a taken-out attempt does (the writers above)."""
    client, _, globex = site  # acme is deleted by the last writer above
    ch = client.app.state.clickhouse
    batch = make_batch(flows=[flow(orig_h="10.9.0.1", resp_h="10.9.0.3", uid="Ccount")])
    assert post_batch(client, globex.sensor_token, wire.encode(batch)).status_code == 200
    sources = {r["source"] for r in ch.query("SELECT DISTINCT source FROM tenant_changes WHERE tenant_id = {t:UInt32}",
                                             {"t": globex.id})}
    assert "batches" in sources and "ingest_intents.started" not in sources
    (sql,) = [sql for version, _, sql in migrations() if version == 23]
    (view,) = [s for s in render(sql, "shards") if s.startswith("CREATE MATERIALIZED VIEW")]
    assert " TO tenant_changes_local " in view and "FROM ingest_intents_local WHERE state = 'removed'" in view


def test_the_version_is_the_tenants_counts_and_a_cluster_reads_them_through_distributed(site):
    ch = site[0].app.state.clickhouse
    one, two = 1001, 1002  # tenants of their own
    started = tenant_changes.version(ch, one, ())  # every version holds the core processes' starts
    assert [r[:2] for r in started] == [(tenant_changes.EVERY_TENANT, tenant_changes.START)]
    assert tenant_changes.version(ch, one, ("asset_annotations",)) == started
    assets.annotate(ch, one, "10.0.0.1", "someone", notes="first")
    noted = tenant_changes.version(ch, one, ("asset_annotations",))
    assert noted[-1][:3] == (one, "asset_annotations", 1)
    assert tenant_changes.version(ch, two, ("asset_annotations",)) == started  # only the tenant's
    assert tenant_changes.version(ch, one, ("alerts",)) == started  # only the sources named
    assets.annotate(ch, one, "10.0.0.1", "someone", notes="second")
    twice = tenant_changes.version(ch, one, ("asset_annotations",))
    assert twice[-1][2] == 2 and twice[-1][3] >= noted[-1][3]
    ch.command("OPTIMIZE TABLE tenant_changes FINAL")
    assert tenant_changes.version(ch, one, ("asset_annotations",)) == twice  # a merge adds nothing

    kept, calls = Kept(("asset_annotations",), size=2), []
    compute = lambda: calls.append(1) or object()  # noqa: E731
    a = kept.get(ch, one, "a", compute)
    assert kept.get(ch, one, "a", compute) is a and len(calls) == 1
    assert kept.get(ch, two, "a", compute) is not a  # per tenant
    kept.get(ch, one, "b", compute), kept.get(ch, one, "c", compute)  # "a" is the oldest of three: let go
    assert kept.get(ch, one, "a", compute) is not a and len(calls) == 5

    (sql,) = [sql for version, _, sql in migrations() if version == 21]
    statements = render(sql, "shards")
    assert any("tenant_changes ON CLUSTER `shards` AS tenant_changes_local ENGINE = Distributed" in s for s in statements)
    views = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) == 10 and all(" TO tenant_changes_local " in s and re.search(r"FROM \w+_local\b", s)
                                    for s in views)
    assert any("FROM batches_local" in s for s in views)
    assert "FROM tenant_changes" in tenant_changes._VERSION  # the Distributed table on a cluster


def test_same_matches_the_very_object_only():
    one, twin = {"k": 1}, {"k": 1}
    assert Same(one) == Same(one) and hash(Same(one)) == hash(Same(one))
    assert Same(one) != Same(twin) and Same(one) != one


def test_each_tenant_keeps_its_own_results_within_a_bound_on_all(site):
    """Hundreds of tenants browsing at once keep their own results (one bound a tenant), and a bound on
    them all lets the least recently read tenant's oldest go first."""
    ch = site[0].app.state.clickhouse
    calls = []
    compute = lambda: calls.append(1) or object()  # noqa: E731
    kept, tenants = Kept(("asset_annotations",)), range(3001, 3301)  # 300 tenants of their own
    first = {(t, k): kept.get(ch, t, k, compute) for t in tenants for k in ("day", "week")}
    assert all(kept.get(ch, t, k, compute) is first[t, k] for t, k in first) and len(calls) == len(kept) == 600

    assets.annotate(ch, 3001, "10.0.0.1", "someone", notes="changed")
    again = kept.get(ch, 3001, "day", compute)
    assert again is not first[3001, "day"] and len(kept) == 600  # the new version replaces the old
    for k in ("month", "year", "today", "hour", "minute", "second", "all"):  # a tenant's 8th, 9th result
        kept.get(ch, 3002, k, compute)
    assert kept.get(ch, 3002, "day", compute) is not first[3002, "day"]  # its oldest let go
    assert kept.get(ch, 3003, "day", compute) is first[3003, "day"]  # not another tenant's

    small = Kept(("asset_annotations",), size=2, total=5)
    for t in (1, 2, 3):
        for k in ("a", "b"):
            small.get(ch, 4000 + t, (t, k), compute)
    assert len(small) == 5  # the first tenant's oldest went
    calls.clear()
    assert [small.get(ch, 4000 + t, (t, k), compute) and len(calls) for t, k in ((1, "b"), (3, "b"), (1, "a"))] \
        == [0, 0, 1]
    assert len(small) == 5
