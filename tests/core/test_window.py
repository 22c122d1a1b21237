"""Query windows at the edges of time: stored data dated 0001 or 9999 and query bounds of any year
never make a read answer 500 (issue 9 item 4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from coretest import PASSWORD, authenticated, flow, make_batch, post_batch, provision

from core.access import auth
from core.analytics.window import EARLIEST, LATEST, resolve_window
from sensor import wire

READS = ["/api/v1/totals", "/api/v1/traffic", "/api/v1/flows", "/api/v1/protocols", "/api/v1/talkers"]
PAGES = ["/", "/?range=1h", "/?range=7d", "/sensors", "/assets", "/assets/00:1b:1b:00:00:09", "/assets.csv"]


def store_batch_row(app, tenant, start: datetime, end: datetime) -> None:
    """A batch log row written straight into ClickHouse, as older cores let such batches in."""
    app.state.clickhouse.insert_rows("batches", [dict(
        tenant_id=tenant.id, sensor_id=tenant.sensor_id, batch_id=uuid.uuid4(), interval_start=start,
        interval_end=end, flows=0, events=0, observations=0, packets=1, bytes=60, parse_errors=0,
        kernel_drops=0, non_ip_packets=0)])


@pytest.fixture(scope="module")
def tenants(client):
    """far_future and far_past: one real batch at T0 plus a batch, an observation and a flow dated
    9999-12-31 / 0001-01-01."""
    far_future, far_past = provision(client.app, "future"), provision(client.app, "past")
    for tenant in (far_future, far_past):
        assert post_batch(client, tenant.sensor_token, wire.encode(make_batch())).status_code == 200
    store_batch_row(client.app, far_future, datetime(9999, 12, 31, 23, 58, tzinfo=UTC),
                    datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    store_batch_row(client.app, far_past, datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, 0, 1, tzinfo=UTC))
    for tenant, ts in ((far_future, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)), (far_past, datetime(1, 1, 1, tzinfo=UTC))):
        client.app.state.clickhouse.insert_rows("observations", [dict(
            tenant_id=tenant.id, sensor_id=tenant.sensor_id, batch_id=uuid.uuid4(), ts=ts, mac="00:1b:1b:00:00:09",
            ip="10.0.0.9", attribute="hostname", value="clockless", source="dhcp", confidence=80)])
        client.app.state.clickhouse.insert_rows("flows", [dict(
            flow(orig_h="10.0.0.9", ts=ts, ts_end=ts), tenant_id=tenant.id, sensor_id=tenant.sensor_id,
            batch_id=uuid.uuid4())])
    ch = client.app.state.clickhouse
    for table in ch.tenant_tables():  # expired rows go at a merge: have it now, not some time later
        ch.command(f"OPTIMIZE TABLE {table['name']} FINAL")
    return far_future, far_past


def expected(tenant, path: str) -> int:
    """200, but for the device dated 0001 alone: kept state expires by the rollups' retention (its
    sightings fall in 1970, decades past it), so the device is no longer known."""
    return 404 if tenant.name == "past" and "00:1b:1b:00:00:09" in path else 200


def api(client, tenant, path, **params):
    return client.get(path, params=params, headers={"Authorization": f"Bearer {tenant.api_token}"})


@pytest.mark.parametrize("path", [*READS, "/api/v1/sensors", "/api/v1/assets", "/api/v1/assets/00:1b:1b:00:00:09",
                                  "/api/v1/assets.csv"])
def test_reads_survive_data_dated_at_the_ends_of_time(client, tenants, path):
    for tenant in tenants:
        r = api(client, tenant, path)
        assert r.status_code == expected(tenant, path), (tenant.name, r.text)


def test_default_window_ends_at_the_newest_data_not_in_the_future(client, tenants):
    """A batch dated 9999 must not hide the tenant's real data from its overview."""
    far_future, _ = tenants
    totals = api(client, far_future, "/api/v1/totals").json()
    assert totals["bytes"] == 700 and totals["batches"] == 1
    traffic = api(client, far_future, "/api/v1/traffic").json()
    assert traffic["end"] == "2024-05-01T12:02:00Z"


def test_pages_survive_data_dated_at_the_ends_of_time(client, tenants):
    for tenant in tenants:
        with client.app.state.controlplane.sessions() as db:
            raw = auth.start_session(db, authenticated(db, tenant.email, PASSWORD))
        for path in PAGES:
            r = client.get(path, headers={"Cookie": f"{auth.SESSION_COOKIE}={raw}"})
            assert r.status_code == expected(tenant, path), (tenant.name, path, r.text[:300])


BOUNDS = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "0999-06-01T00:00:00Z",
          "1899-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
          "9999-12-31T23:59:59-05:00"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("bound", BOUNDS)
def test_query_bounds_of_any_year_are_clamped_or_refused(client, tenants, path, bound):
    for params in ({"start": bound}, {"end": bound}):
        r = api(client, tenants[0], path, **params)
        assert r.status_code in (200, 400, 422), (params, r.text)


def test_out_of_range_bounds_clamp_to_what_the_store_holds(client, tenants):
    far_future, _ = tenants
    r = api(client, far_future, "/api/v1/totals", start="0001-01-01T00:00:00Z", end="9999-12-31T23:59:59Z")
    assert r.status_code == 200 and r.json()["bytes"] == 700  # everything the rollups hold
    r = api(client, far_future, "/api/v1/traffic", start="0001-01-01T00:00:00Z", end="9999-12-31T23:59:59Z")
    assert r.status_code == 200
    assert (r.json()["start"], r.json()["end"]) == (
        EARLIEST.isoformat().replace("+00:00", "Z"), LATEST.isoformat().replace("+00:00", "Z"))
    r = api(client, far_future, "/api/v1/totals", start="9999-12-31T23:59:59Z")
    assert r.status_code == 400  # an empty window once clamped


def test_a_series_too_long_for_its_step_is_refused(client, tenants):
    r = api(client, tenants[0], "/api/v1/traffic", start="2000-01-01T00:00:00Z", end="2024-01-01T00:00:00Z",
            step=60)
    assert r.status_code == 422 and "step" in r.json()["detail"]


def test_resolve_window_clamps_without_a_store():
    """Explicit bounds never reach the store's newest-data query."""
    window = resolve_window(None, 1, datetime(1, 1, 1, tzinfo=UTC), datetime.max)
    assert (window.start, window.end) == (EARLIEST, LATEST)
    window = resolve_window(None, 1, end=EARLIEST + timedelta(hours=1))
    assert (window.start, window.end) == (EARLIEST, EARLIEST + timedelta(hours=1))
    with pytest.raises(ValueError, match="start must be before end"):
        resolve_window(None, 1, start=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
