"""The tenant's own export and its deletion when its contract ends (``mieruka tenants export`` /
``purge`` / ``purge-ended``): the export's row counts equal the store's; after the purge no row of
the tenant is left in any ClickHouse table with a ``tenant_id`` (found from ``system.columns``) or in
the control plane (found from its metadata) but what the provider keeps, and the other tenant's data
is untouched."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pyarrow.parquet as pq
import pytest
from coretest import OSECT_EXAMPLE, PASSWORD, T0, provision_in
from sqlalchemy import MetaData, func, select
from typer.testing import CliRunner

from core import cli
from core.access import accounts, auth
from core.analytics.assets import annotate
from core.billing import contracts
from core.config import Settings
from core.detect.engine import Detector
from core.export.purge import KEPT, ended
from core.export.tenant import row_counts
from core.ingest import Ingestor
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import AuditLog, ControlPlane, Sensor, Tenant
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Two tenants with a simulated plant each (alerts, baseline, ledger, annotations), users, API
    tokens, a contract for acme; the stores closed again so the CLI can open them."""
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path / "data"))
    cfg = Settings()
    cp = ControlPlane(cfg.database_dsn)
    cp.create_schema()
    tenants = {name: provision_in(cp, name) for name in ("acme", "globex")}
    with cp.sessions() as db:
        acme = accounts.tenant_named(db, "acme")
        for tenant in db.scalars(select(Tenant)):
            tenant.learning_hours = 0  # everything is new: alerts in every table
        contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE | {"sensors": 1}),
                               [accounts.sensor_with_serial(db, acme, "SN-acme")])
        db.commit()
    with ClickHouseStore(cfg.clickhouse_dsn) as ch:
        ch.migrate()
        ingest = Ingestor(ch, Detector(ch, cp))
        for seed, name in enumerate(tenants, start=1):
            pcap = tmp_path / f"{name}.pcap"
            write_pcap(pcap, packets=6000, seed=seed, start=T0.timestamp())
            for batch in iter_batches([pcap], 60.0, sensor=f"SN-{name}", observer=Observer()):
                t = tenants[name]
                assert ingest.ingest(t.id, t.sensor_id, wire.encode(batch)).status == "stored"
            annotate(ch, tenants[name].id, "00:00:00:00:00:01", "tests", notes=f"{name}'s note")
    cp.close()
    runner = CliRunner()
    return tenants, lambda *args: runner.invoke(cli.app, list(args))


def _tenant_columns(ch: ClickHouseStore) -> list[str]:
    """Every table of the database with a tenant_id column, asked of ClickHouse itself (views
    included: they must hold nothing either)."""
    return [r["table"] for r in ch.query("SELECT table FROM system.columns WHERE database = currentDatabase() "
                                         "AND name = 'tenant_id' ORDER BY table")]


def _raw_counts(ch: ClickHouseStore, tenant_id: int) -> dict[str, int]:
    out = {}
    for table in _tenant_columns(ch):
        engine = ch.query("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {n:String}",
                          {"n": table})[0]["engine"]
        if engine != "MaterializedView":
            out[table] = ch.query(f"SELECT count() AS n FROM {table} WHERE tenant_id = {{t:UInt32}}",
                                  {"t": tenant_id})[0]["n"]
    return out


def test_export_then_purge(site, tmp_path):
    tenants, run = site
    acme, globex = tenants["acme"], tenants["globex"]
    cfg = Settings()
    with ClickHouseStore(cfg.clickhouse_dsn) as ch:
        before = row_counts(ch, acme.id)
        globex_before = _raw_counts(ch, globex.id)
    print("\nrows of acme before the export:", before)
    assert before["flows"] and before["events"] and before["alerts"] and before["asset_annotations"] == 1

    out = tmp_path / "export"
    r = run("tenants", "export", "acme", "--out", str(out))
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    by_path = {f["path"]: f for f in manifest["files"]}
    for table, rows in before.items():
        exported = by_path[f"clickhouse/{table}.parquet"]
        parquet = pq.read_table(out / exported["path"])
        assert exported["rows"] == parquet.num_rows == rows, table
        if rows:
            assert set(parquet.column("tenant_id").to_pylist()) == {acme.id}, table
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
        assert (out / f["path"]).stat().st_size == f["bytes"]
    assert (out / "clickhouse/alerts.csv").read_text().count("\n") == before["alerts"] + 1
    users = pq.read_table(out / "controlplane/users.parquet").to_pylist()
    assert [u["email"] for u in users] == [acme.email] and "password_hash" not in users[0]
    assert "token_hash" not in pq.read_table(out / "controlplane/sensors.parquet").column_names
    (contract,) = pq.read_table(out / "controlplane/contracts.parquet").to_pylist()
    assert json.loads(contract["document"])["contract_id"] == "C-1"
    invoices = json.loads((out / "invoices.json").read_text())
    assert invoices and invoices[0]["month"] == "2026-12" and invoices[0]["invoices"][0]["contract_id"] == "C-1"
    assert b"globex" not in b"".join((out / f["path"]).read_bytes() for f in manifest["files"]
                                     if f["path"].endswith(".csv"))
    assert run("tenants", "export", "acme", "--out", str(out)).exit_code == 2  # not empty

    assert run("tenants", "purge", "acme").exit_code == 2  # no --yes
    r = run("tenants", "purge", "acme", "--yes")
    assert r.exit_code == 0, r.output
    with ClickHouseStore(cfg.clickhouse_dsn) as ch:
        left = _raw_counts(ch, acme.id)
        assert set(left) >= set(before) and not any(left.values()), left
        assert _raw_counts(ch, globex.id) == globex_before
    cp = ControlPlane(cfg.database_dsn)
    try:
        meta = MetaData()
        meta.reflect(cp.engine)
        with cp.engine.connect() as conn:
            for table in meta.sorted_tables:
                if "tenant_id" in table.c and table.name not in KEPT:
                    n = conn.execute(select(func.count()).where(table.c.tenant_id == acme.id)).scalar()
                    assert n == 0, table.name
        with cp.sessions() as db:
            assert db.get(Tenant, acme.id).purged_at is not None
            (sensor,) = db.scalars(select(Sensor).where(Sensor.tenant_id == acme.id))
            assert (sensor.serial, sensor.token_hash, sensor.health, sensor.status) == ("SN-acme", None, None, "purged")
            assert auth.sensor_for_token(db, acme.sensor_token) is None
            assert auth.user_for_api_token(db, acme.api_token) is None
            assert auth.user_for_api_token(db, globex.api_token) is not None
            (record,) = db.scalars(select(AuditLog).where(AuditLog.action == "tenant.purge"))
            assert record.tenant_id is None and "acme" in record.detail
            assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.tenant_id == globex.id))
            assert auth.check_password(db, acme.email, PASSWORD).outcome == "failed"
    finally:
        cp.close()


def test_purge_when_the_contract_ended(site):
    tenants, run = site
    cfg = Settings()
    cp = ControlPlane(cfg.database_dsn)
    try:
        assert ended(cp.engine, 30, date(2027, 6, 1)) == []  # acme's contract runs; globex has none
        with cp.sessions() as db:
            (row,) = contracts.list_contracts(db, tenants["acme"].id)
            contracts.update_contract(db, row, json.dumps(row.document | {"termination_date": "2027-03-31"}),
                                      list(row.sensors))
            db.commit()
        assert ended(cp.engine, 30, date(2027, 4, 30)) == []  # inside the grace period
        assert ended(cp.engine, 30, date(2027, 5, 1)) == [tenants["acme"].id]
    finally:
        cp.close()
    r = run("tenants", "purge-ended", "--dry-run")
    assert r.exit_code == 0, r.output
    assert ("due: acme" if date.today() > date(2027, 4, 30) else "due: none") in r.output
