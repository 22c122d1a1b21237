"""Helpers for core tests: provisioning, a live uvicorn server, hand-made batches.

(A module of its own, not conftest: several test folders have a conftest.)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from core.access import accounts, auth
from core.billing import contracts
from core.store.controlplane import User
from sensor import wire

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass
class Tenant:
    """One provisioned tenant: ids and the raw credentials issued to it."""

    id: int
    name: str
    email: str
    sensor_id: int
    sensor_token: str
    api_token: str


def provision(app, name: str) -> Tenant:
    return provision_in(app.state.controlplane, name)


def provision_in(controlplane, name: str) -> Tenant:
    """A tenant with an analyst, a sensor and an API token, in a ``ControlPlane``."""
    with controlplane.sessions() as db:
        tenant = accounts.create_tenant(db, name)
        user = accounts.create_user(db, tenant, f"analyst@{name}.example", PASSWORD)
        sensor, sensor_token = accounts.create_sensor(db, tenant, f"SN-{name}")
        _, api_token = accounts.create_api_token(db, user, "tests")
        return Tenant(tenant.id, name, user.email, sensor.id, sensor_token, api_token)


def add_user(app, tenant: str, email: str, role: str) -> str:
    """A ``role`` user of ``tenant`` (a tenant created if new); returns an API token of theirs."""
    with app.state.controlplane.sessions() as db:
        try:
            owner = accounts.tenant_named(db, tenant)
        except accounts.AccountError:
            owner = accounts.create_tenant(db, tenant)
        user = accounts.create_user(db, owner, email, PASSWORD, role)
        return accounts.create_api_token(db, user, "tests")[1]


def authenticated(db, email: str, password: str) -> User | None:
    """The user if e-mail and password match and the account may log in, else None: a login's check
    (auth.check_password) without its session."""
    attempt = auth.check_password(db, email, password)
    return attempt.user if attempt.outcome == "ok" else None


def every_row(db) -> str:
    """Every row of every control-plane table as text, on any backend (to look for secrets in)."""
    conn = db.connection()
    return "\n".join(repr(tuple(row)) for table in inspect(conn).get_table_names()
                     for row in conn.execute(text(f'SELECT * FROM "{table}"')))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# The spec's worked examples as contract files (specs/tariff.md §1: delivered 2026-11-19 → opening
# 2026-12-03, December 612,258 + tax 61,225; §2: October 18,000 + 1,800, November 28,500 + 2,850).
OSECT_EXAMPLE = {"contract_id": "C-1", "plan": "osect", "desired_opening_date": "2026-12-01",
                 "equipment_delivered_date": "2026-11-19", "installation_completed_date": "2026-11-20",
                 "opening_test_completed_date": "2026-11-27", "termination_date": None, "sensors": 2}
SCC_EXAMPLE = {"contract_id": "S-1", "plan": "secure-camera-cloud", "camera_type": "network",
               "contract_date": "2026-10-20", "installation_date": "2026-10-28", "service_start_date": None,
               "cameras": 4, "ip_vpn_ids": 3, "storage_units": 2, "termination_date": None,
               "outages": [{"aware_at": "2026-12-03T10:00:00+09:00", "restored_at": "2026-12-07T10:00:00+09:00"}]}


def store_contract(app, tenant: str, document: dict, serials: tuple[str, ...] = ()) -> int:
    """Store a contract file for ``tenant`` with the tenant's sensors ``serials``; returns its id."""
    with app.state.controlplane.sessions() as db:
        owner = accounts.tenant_named(db, tenant)
        sensors = [accounts.sensor_with_serial(db, owner, serial) for serial in serials]
        return contracts.add_contract(db, owner, json.dumps(document), sensors).id


class LiveServer:
    """uvicorn on a free port of 127.0.0.1; HTTPS when given a certificate and key (PEM files)."""

    def __init__(self, app, certfile=None, keyfile=None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"{'https' if certfile else 'http'}://127.0.0.1:{port}"
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                           ssl_certfile=certfile, ssl_keyfile=keyfile)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=20)


def flow(
    orig_h="10.0.0.1",
    resp_h="10.0.0.2",
    service="modbus",
    proto="tcp",
    ts=T0,
    nbytes=700,
    pkts=7,
    **kw,
):
    row = dict(
        ts=ts,
        ts_end=ts + timedelta(seconds=30),
        uid="C" + orig_h + resp_h,
        community_id="1:x",
        vlan=0,
        orig_h=orig_h,
        orig_p=50000,
        resp_h=resp_h,
        resp_p=502,
        proto=proto,
        ethertype=0x0800,
        service=service,
        duration=30.0,
        orig_bytes=nbytes // 2,
        resp_bytes=nbytes // 2,
        orig_pkts=pkts - pkts // 2,
        resp_pkts=pkts // 2,
        orig_ip_bytes=nbytes - nbytes // 2,
        resp_ip_bytes=nbytes // 2,
        conn_state="S1",
        history="ShAD",
        orig_l2_addr="00:1b:1b:00:00:01",
        resp_l2_addr="00:1b:1b:00:00:02",
        final=False,
    )
    return row | kw


def make_batch(
    flows=None, events=None, observations=None, start=T0, **counters
) -> wire.Batch:
    """A batch of hand-made rows over the minute from ``start``."""
    flows = [flow()] if flows is None else flows
    events = (
        events
        if events is not None
        else [
            dict(
                ts=start,
                ts_end=start,
                count=1,
                uid="C1",
                orig_h="10.0.0.1",
                resp_h="10.0.0.2",
                resp_p=502,
                protocol="modbus",
                action="read_holding_registers",
                status="ok",
                attrs={"unit": "1", "address": "0-9"},
            )
        ]
    )
    observations = (
        observations
        if observations is not None
        else [
            dict(
                ts=start,
                mac="00:1b:1b:00:00:02",
                ip="10.0.0.2",
                attribute="vendor",
                value="Siemens",
                source="oui",
                confidence=90,
            ),
            dict(
                ts=start,
                mac="00:1b:1b:00:00:02",
                ip="10.0.0.2",
                attribute="hostname",
                value="plc-1",
                source="dhcp",
                confidence=80,
            ),
        ]
    )
    tables = {
        "flows": wire.table_from_rows("flows", flows),
        "events": wire.table_from_rows("events", events),
        "observations": wire.table_from_rows("observations", observations),
    }
    counters = {
        "packets": sum(f["orig_pkts"] + f["resp_pkts"] for f in flows),
        **counters,
    }
    return wire.Batch(
        start, start + timedelta(minutes=1), tables, counters, sensor="SN"
    )


def post_batch(
    base: httpx.Client | TestClient, token: str | None, body: bytes
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return base.post("/api/v1/ingest", content=body, headers=headers)


def fail_commit_markers(monkeypatch, ingestor, message: str) -> None:
    """From now on the ingestor's commit-marker insert (``batches``) raises RuntimeError(message), after
    the batch's rows were stored: the path where ingest takes them out again."""
    insert = ingestor._insert

    def failing(table, data, token):
        if table == "batches":
            raise RuntimeError(message)
        insert(table, data, token)

    monkeypatch.setattr(ingestor, "_insert", failing)


EMPTY = {  # row_counts() of stores holding nothing
    name: 0
    for name in ("flows", "events", "observations", "batches", "traffic_1m", "pairs_1h", "asset_facts")
}


def row_counts(app) -> dict[str, int]:
    """Rows in every ClickHouse data table (raw, log and rollups)."""
    ch = app.state.clickhouse
    tables = (
        "flows",
        "events",
        "observations",
        "batches",
        "traffic_1m",
        "pairs_1h",
        "asset_facts",
    )
    return {t: ch.query(f"SELECT count() AS n FROM {t}")[0]["n"] for t in tables}
