"""Contracts in the control plane: stored as validated contract files, refused naming the field,
linked to sensors, and the ``mieruka contracts`` commands (exit 2 on bad input, audited)."""

from __future__ import annotations

import json

import pytest
from coretest import OSECT_EXAMPLE, SCC_EXAMPLE
from pgtest import controlplane_url
from sqlalchemy import func, select
from typer.testing import CliRunner

from core import cli
from core.access import accounts
from core.billing import contracts
from core.config import Settings
from core.store.controlplane import AuditLog, Contract, ControlPlane
from tariff.errors import InputError


@pytest.fixture
def db(tmp_path):
    cp = ControlPlane(controlplane_url(tmp_path))
    cp.create_schema()
    with cp.sessions() as session:
        yield session
    cp.close()


@pytest.fixture
def acme(db):
    tenant = accounts.create_tenant(db, "acme")
    for serial in ("SN-1", "SN-2"):
        accounts.create_sensor(db, tenant, serial)
    return tenant


def sensors(db, tenant, *serials):
    return [accounts.sensor_with_serial(db, tenant, s) for s in serials]


def test_a_contract_is_stored_as_its_file_with_indexed_columns_and_sensors(db, acme):
    stored = contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE), sensors(db, acme, "SN-2", "SN-1"))
    row = db.scalar(select(Contract))
    assert (row.id, row.tenant_id, row.contract_id, row.plan) == (stored.id, acme.id, "C-1", "osect")
    assert row.document == OSECT_EXAMPLE
    assert [s.serial for s in row.sensors] == ["SN-1", "SN-2"]
    contracts.add_contract(db, acme, json.dumps(SCC_EXAMPLE))
    assert [c.contract_id for c in contracts.list_contracts(db, acme.id)] == ["C-1", "S-1"]
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "contract.add")).all()
    assert [(a.tenant_id, a.detail) for a in audit] == [
        (acme.id, f"contract {stored.id} C-1 (osect), sensors SN-1, SN-2"),
        (acme.id, f"contract {stored.id + 1} S-1 (secure-camera-cloud)"),
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"sensors": None}, "sensors", "must not be null"),
        ({"sensors": -1}, "sensors", "at least 1"),
        ({"plan": "gold"}, "plan", "unknown value 'gold'"),
        ({"termination_date": "2026-12-02"}, "termination_date", "before the opening date 2026-12-03"),
        ({"termintion_date": None}, "termintion_date", "unknown field"),
        ({"installation_completed_date": "2026-11-01"}, "installation_completed_date", "before the equipment"),
        ({"contract_id": "C" * 101}, "contract_id", "longer than 100"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field_and_nothing_is_written(db, acme, change, field, message):
    with pytest.raises(InputError) as refused:
        contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE | change))
    assert refused.value.field == field and message in refused.value.message
    assert db.scalar(select(func.count()).select_from(Contract)) == 0


def test_contract_numbers_and_sensors_belong_to_one_contract(db, acme):
    contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE), sensors(db, acme, "SN-1"))
    with pytest.raises(InputError, match="contract_id: 'C-1' already exists"):
        contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE))
    with pytest.raises(accounts.AccountError, match="'SN-1' already belongs to contract"):
        contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE | {"contract_id": "C-2"}),
                               sensors(db, acme, "SN-1"))
    with pytest.raises(accounts.AccountError, match="only OsecT contracts have sensors"):
        contracts.add_contract(db, acme, json.dumps(SCC_EXAMPLE), sensors(db, acme, "SN-2"))
    other = accounts.create_tenant(db, "globex")
    with pytest.raises(accounts.AccountError, match="not the contract's tenant's"):
        contracts.add_contract(db, other, json.dumps(OSECT_EXAMPLE | {"contract_id": "G-1"}),
                               sensors(db, acme, "SN-2"))
    assert [c.contract_id for c in contracts.list_contracts(db, None)] == ["C-1"]


def test_an_update_replaces_the_file_but_keeps_the_number(db, acme):
    row = contracts.add_contract(db, acme, json.dumps(OSECT_EXAMPLE), sensors(db, acme, "SN-1"))
    terminated = OSECT_EXAMPLE | {"termination_date": "2027-03-31"}
    contracts.update_contract(db, row, json.dumps(terminated))
    assert row.document == terminated and [s.serial for s in row.sensors] == ["SN-1"]
    with pytest.raises(InputError, match="contract_id: is 'C-9'.*keeps its number"):
        contracts.update_contract(db, row, json.dumps(OSECT_EXAMPLE | {"contract_id": "C-9"}))
    db.rollback()
    assert db.get(Contract, row.id).document == terminated


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli.app, [str(a) for a in args])

    assert run("tenants", "add", "acme").exit_code == 0
    assert run("sensors", "add", "--tenant", "acme", "--serial", "SN-1", "--token").exit_code == 0
    return run


def write(tmp_path, document, name="c.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document) if isinstance(document, dict) else document)
    return path


def audit_rows(action):
    cp = ControlPlane(Settings().database_dsn)
    with cp.sessions() as db:
        found = db.scalars(select(AuditLog).where(AuditLog.action == action))
        rows = [(a.actor, a.tenant_id, a.detail) for a in found]
    cp.close()
    return rows


def test_cli_adds_lists_and_shows_contracts_audited(run, tmp_path):
    r = run("contracts", "add", "--tenant", "acme", "--file", write(tmp_path, OSECT_EXAMPLE), "--sensor", "SN-1")
    assert r.exit_code == 0, r.output
    contract = r.stdout.strip()
    assert "contract C-1 (osect) added to tenant 'acme'" in r.stderr
    r = run("contracts", "list")
    assert r.stdout.splitlines() == [f"{contract}\tacme\tC-1\tosect\t2026-12-03\t"]
    r = run("contracts", "show", contract)
    shown = json.loads(r.stdout)
    assert shown["document"] == OSECT_EXAMPLE and shown["sensors"] == ["SN-1"]
    assert shown["opening"]["opening_date"] == "2026-12-03" and shown["opening"]["shipping_delay_days"] == 2
    terminated = OSECT_EXAMPLE | {"termination_date": "2027-01-31"}
    assert run("contracts", "update", contract, "--file", write(tmp_path, terminated)).exit_code == 0
    assert json.loads(run("contracts", "show", contract).stdout)["document"] == terminated
    assert audit_rows("contract.list") == [("cli", None, "all tenants: 1 contract(s)")]
    assert audit_rows("contract.show") == [("cli", None, f"contract {contract} C-1 of acme")] * 2
    assert [a for a, _, _ in audit_rows("contract.add") + audit_rows("contract.update")] == ["cli", "cli"]


@pytest.mark.parametrize(
    ("args", "file", "message"),
    [
        (["add", "--tenant", "acme"], OSECT_EXAMPLE | {"sensors": 0}, "c.json: sensors: must be at least 1"),
        (["add", "--tenant", "acme"], OSECT_EXAMPLE | {"plan": "gold"}, "c.json: plan: unknown value 'gold'"),
        (["add", "--tenant", "acme"], "{not json", "c.json: contract: not valid JSON"),
        (["add", "--tenant", "nope"], OSECT_EXAMPLE, "no tenant named 'nope'"),
        (["add", "--tenant", "acme", "--sensor", "SN-9"], OSECT_EXAMPLE, "no sensor 'SN-9' in tenant 'acme'"),
        (["add", "--tenant", "acme", "--sensor", "SN-1"], SCC_EXAMPLE, "only OsecT contracts have sensors"),
        (["update", "7"], OSECT_EXAMPLE, "ID: no contract 7"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_nothing_is_written(run, tmp_path, args, file, message):
    r = run("contracts", *args, "--file", write(tmp_path, file))
    assert (r.exit_code, r.stdout, r.stderr.count("\n")) == (2, "", 1) and message in r.stderr
    assert run("contracts", "list").stdout == ""
    assert run("contracts", "show", "1").stderr == "error: ID: no contract 1\n"


def test_cli_unreadable_file_names_the_option(run, tmp_path):
    r = run("contracts", "add", "--tenant", "acme", "--file", tmp_path / "missing.json")
    assert r.exit_code == 2 and r.stderr.startswith("error: --file: cannot read")
