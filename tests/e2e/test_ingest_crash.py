"""Exactly once through crashes: the core process dies (it exits as a crash would, through the
ingest's ``crash_at`` hook) at every step of storing a batch — before, between and after every
table's insert and the commit marker. Restarted, it gets the sensor's resend of every batch, and every
table that holds tenant data, raw or rollup, is exactly what a clean ingest of the same batches gave
another tenant. A crashed batch that is never resent is taken out by ``recover``."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from runtest import CoreProcess

from core.analytics.kept import INGEST
from core.export.tenant import final, select_list
from core.ingest import STEPS, Ingestor
from core.store.clickhouse import ClickHouseStore
from core.store.tenant_changes import version
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap

# columns that say when the core did something, not what it stored (tenant_changes.last: when it counted)
PROCESSING_TIME = {"tenant_id", "sensor_id", "received_at", "at", "computed_at", "updated_at", "imported_at", "last"}
COMPARED_APART = {"ingest_intents"}  # the attempt log: a crash leaves its own 'started' rows
# counts of what the core did rather than what it stored: a retention pass at the first start. (A kill
# between an insert and the view that counts it, which no crash step lands in, leaves counts behind: the
# restart moves every version then; the last test.)
NOT_STORED = {"tenant_changes": "source != 'retention'"}


@pytest.fixture(scope="module")
def bodies(tmp_path_factory) -> list[bytes]:
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=6000, seed=3)
    return [wire.encode(b) for b in iter_batches([path], 10.0, sensor="SN", observer=Observer())]


@pytest.fixture(scope="module")
def core(tmp_path_factory, bodies):
    """A core (not running between tests) with a tenant that stored the batches cleanly."""
    server = CoreProcess(tmp_path_factory.mktemp("core")).start()
    server.clean = server.provision("clean")
    for body in bodies:
        assert post(server, server.clean, body).status_code == 200
    server.stop()
    yield server


def post(core: CoreProcess, tenant, body: bytes) -> httpx.Response:
    return httpx.post(core.url + "/api/v1/ingest", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {tenant.sensor_token}"})


def contents(ch: ClickHouseStore, tenant_id: int) -> dict[str, list[tuple]]:
    """Every tenant table's rows (sorted; merging tables as their queries see them), without the
    tenant, the sensor and processing times."""
    out = {}
    for table in ch.tenant_tables():
        if table["name"] in COMPARED_APART:
            continue
        columns = {n: k for n, k in table["columns"].items() if n not in PROCESSING_TIME}
        stored = f" AND {NOT_STORED[table['name']]}" if table["name"] in NOT_STORED else ""
        rows = ch.client.query(f"SELECT {select_list(columns)} FROM {table['name']}{final(table)} "
                               "WHERE tenant_id = {t:UInt32}" + stored, parameters={"t": tenant_id}).result_rows
        out[table["name"]] = sorted(rows, key=repr)
    return out


def store_of(core: CoreProcess) -> ClickHouseStore:
    return ClickHouseStore(f"chdb://{(core.data_dir / 'clickhouse').resolve()}")


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_every_step_then_resent_stores_everything_once(core, bodies, step):
    core.start(ingest_crash_at=step)
    tenant = core.provision(f"crash-{step.replace(':', '-')}")
    with pytest.raises(httpx.TransportError):
        post(core, tenant, bodies[0])
    assert core.process.proc.wait(timeout=30) == 70, core.process.log
    core.start()
    for body in bodies:
        assert post(core, tenant, body).status_code == 200
    core.stop()
    with store_of(core) as ch:
        clean, crashed = contents(ch, core.clean.id), contents(ch, tenant.id)
        attempts = ch.query("SELECT state, generation FROM ingest_intents WHERE tenant_id = {t:UInt32}",
                            {"t": tenant.id})
    assert clean["flows"] and clean["events"] and clean["pairs_1h"] and clean["traffic_1m"]
    assert crashed == clean
    assert {(a["state"], a["generation"]) for a in attempts} == {("started", 0)}  # never taken out


def test_a_crashed_batch_never_resent_is_taken_out(core, bodies):
    core.start(ingest_crash_at="after:observations")
    tenant = core.provision("abandoned")
    with pytest.raises(httpx.TransportError):
        post(core, tenant, bodies[0])
    core.process.proc.wait(timeout=30)
    with store_of(core) as ch:
        assert contents(ch, tenant.id)["events"]  # half stored: events and observations, no flows
        assert Ingestor(ch).recover(older_than=timedelta(0)) == 1
        left = contents(ch, tenant.id)
        assert not any(left[t] for t in ("flows", "events", "observations", "batches", "pairs_1h", "traffic_1m"))
        assert Ingestor(ch).recover(older_than=timedelta(0)) == 0
    core.start()
    for body in bodies:  # the resend is a new generation: stored in full
        assert post(core, tenant, body).status_code == 200
    core.stop()
    with store_of(core) as ch:
        clean, resent = contents(ch, core.clean.id), contents(ch, tenant.id)
    for table in ("flows", "events", "observations", "batches", "pairs_1h", "traffic_1m"):
        assert resent[table] == clean[table], table


def test_rows_a_kill_left_uncounted_move_every_version_at_the_restart(core, bodies):
    """Detection's learning row stored, its count not: what a kill between an insert and the view that
    counts it leaves (here the view is away while the core stores the batch and dies before its
    marker). No resend would count it again; the restart moves the tenant's every version."""
    with store_of(core) as ch:
        (view,) = ch.query("SELECT create_table_query AS q FROM system.tables "
                           "WHERE database = currentDatabase() AND name = 'tenant_changes_learning_mv'")
        ch.command("DROP VIEW tenant_changes_learning_mv")
    try:
        core.start(ingest_crash_at="before:batches")
        tenant = core.provision("uncounted")
        with pytest.raises(httpx.TransportError):
            post(core, tenant, bodies[0])
        assert core.process.proc.wait(timeout=30) == 70, core.process.log
    finally:
        with store_of(core) as ch:
            ch.command(view["q"])
    with store_of(core) as ch:
        counted = ch.query("SELECT sum(changes) AS n FROM tenant_changes WHERE tenant_id = {t:UInt32} "
                           "AND source = 'detect_learning'", {"t": tenant.id})
        assert contents(ch, tenant.id)["detect_learning"] and counted == [{"n": 0}]
        crashed = {sources: version(ch, tenant.id, sources) for sources in (None, INGEST, ("alerts",))}
    core.start()
    core.stop()
    with store_of(core) as ch:
        for sources, before in crashed.items():
            assert version(ch, tenant.id, sources) != before, sources
