"""Ingest over a real HTTP server: store, dedupe, tenant from token, never half-stored."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from coretest import T0, flow, make_batch, post_batch, row_counts

from sensor import wire


@pytest.fixture
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def test_batch_is_stored_and_rolled_up(live, live_tenants, http):
    acme, _ = live_tenants
    batch = make_batch(
        [flow(), flow(orig_h="10.0.0.3", service="s7comm", nbytes=100, pkts=2)]
    )
    r = post_batch(http, acme.sensor_token, wire.encode(batch))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "stored",
        "batch_id": batch.batch_id,
        "rows": {"flows": 2, "events": 1, "observations": 2},
    }
    counts = row_counts(live.app)
    assert (
        counts["flows"] == 2 and counts["events"] == 1 and counts["observations"] == 2
    )
    assert counts["batches"] == 1
    ch = live.app.state.clickhouse
    stored = ch.query("SELECT tenant_id, sensor_id, toString(batch_id) AS b FROM flows")
    assert {(r["tenant_id"], r["sensor_id"], r["b"]) for r in stored} == {
        (acme.id, acme.sensor_id, batch.batch_id)
    }
    assert ch.query("SELECT sum(bytes) AS b, sum(flows) AS f FROM traffic_1m")[0] == {
        "b": 800,
        "f": 2,
    }
    with live.app.state.controlplane.sessions() as db:
        from core.store.controlplane import Sensor

        assert db.get(Sensor, acme.sensor_id).last_seen is not None


def test_folded_events_and_decode_errors_are_stored(live, live_tenants, http):
    acme, _ = live_tenants
    poll = dict(ts=T0, ts_end=T0 + timedelta(seconds=59), count=30, uid="C1", orig_h="10.0.0.1", resp_h="10.0.0.2",
                resp_p=502, protocol="modbus", action="READ_HOLDING_REGISTERS", status="OK",
                attrs={"unit": "1", "address": "0", "quantity": "10", "rtt": "0.002000", "rtt_max": "0.004000"})
    batch = make_batch(events=[poll], decode_errors=3)
    assert post_batch(http, acme.sensor_token, wire.encode(batch)).status_code == 200
    ch = live.app.state.clickhouse
    key = {"b": batch.batch_id}
    [event] = ch.query("SELECT count, ts_end, attrs['rtt_max'] AS rtt_max FROM events WHERE batch_id = {b:UUID}", key)
    assert event["count"] == 30 and event["ts_end"] == T0 + timedelta(seconds=59) and event["rtt_max"] == "0.004000"
    assert ch.query("SELECT decode_errors FROM batches WHERE batch_id = {b:UUID}", key) == [{"decode_errors": 3}]


def test_same_batch_twice_changes_nothing(live, live_tenants, http):
    acme, _ = live_tenants
    body = wire.encode(make_batch())
    assert post_batch(http, acme.sensor_token, body).json()["status"] == "stored"
    before = row_counts(live.app)
    r = post_batch(http, acme.sensor_token, body)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert row_counts(live.app) == before


def test_same_batch_id_from_another_tenant_is_its_own(live, live_tenants, http):
    acme, globex = live_tenants
    body = wire.encode(make_batch())
    assert post_batch(http, acme.sensor_token, body).json()["status"] == "stored"
    assert post_batch(http, globex.sensor_token, body).json()["status"] == "stored"
    assert row_counts(live.app)["batches"] == 2


def test_sensor_token_decides_the_tenant(live, live_tenants, http):
    acme, _ = live_tenants
    batch = make_batch([flow(orig_h="10.9.9.8")])
    batch.sensor = (
        "SN-globex"  # the header's serial is informational; the token decides
    )
    assert post_batch(http, acme.sensor_token, wire.encode(batch)).status_code == 200
    rows = live.app.state.clickhouse.query(
        "SELECT DISTINCT tenant_id, sensor_id FROM flows"
    )
    assert rows == [{"tenant_id": acme.id, "sensor_id": acme.sensor_id}]


def test_failed_store_leaves_nothing_and_resend_stores(
    live, live_tenants, http, monkeypatch
):
    """The commit marker insert fails after all data rows (and rollups) were written."""
    acme, _ = live_tenants
    store = live.app.state.clickhouse
    real_insert = store.insert_arrow

    def failing_insert(table, data, settings=None):
        if table == "batches":
            raise RuntimeError("disk full")
        real_insert(table, data, settings)

    monkeypatch.setattr(store, "insert_arrow", failing_insert)
    body = wire.encode(make_batch())
    r = post_batch(http, acme.sensor_token, body)
    assert r.status_code == 503
    counts = row_counts(live.app)
    assert (
        counts["flows"],
        counts["events"],
        counts["observations"],
        counts["batches"],
    ) == (0, 0, 0, 0)
    ch = live.app.state.clickhouse
    assert ch.query(
        "SELECT sum(bytes) AS b, sum(packets) AS p, sum(flows) AS f FROM traffic_1m"
    )[0] == {"b": 0, "p": 0, "f": 0}
    assert ch.query("SELECT sum(bytes) AS b FROM pairs_1h")[0]["b"] == 0
    assert ch.query("SELECT sum(count) AS n FROM event_actions_1h")[0]["n"] == 0

    monkeypatch.setattr(store, "insert_arrow", real_insert)
    r = post_batch(http, acme.sensor_token, body)
    assert r.json()["status"] == "stored"
    assert ch.query("SELECT sum(bytes) AS b, sum(flows) AS f FROM traffic_1m")[0] == {
        "b": 700,
        "f": 1,
    }
    assert ch.query("SELECT count() AS n FROM flows")[0]["n"] == 1
    assert ch.query("SELECT sum(count) AS n FROM event_actions_1h")[0]["n"] == 1


def test_metrics_count_batches_and_rejections(live, live_tenants, http):
    acme, _ = live_tenants
    post_batch(http, acme.sensor_token, wire.encode(make_batch()))
    post_batch(http, acme.sensor_token, b"junk")
    post_batch(http, None, b"junk")
    text = http.get("/metrics").text
    assert 'mieruka_ingest_batches_total{result="stored"} 1.0' in text
    assert 'mieruka_ingest_rejected_total{reason="not_zstd"} 1.0' in text
    assert 'mieruka_ingest_rejected_total{reason="unauthorized"} 1.0' in text
    assert 'mieruka_ingest_rows_total{table="flows"} 1.0' in text
    assert "mieruka_ingest_seconds_count" in text


def test_new_flow_counts_connections_once(live, live_tenants, http):
    """A flow continuing from an earlier interval adds bytes but not another connection."""
    acme, _ = live_tenants
    from datetime import timedelta

    old = flow(ts=T0 - timedelta(minutes=5))
    post_batch(
        http, acme.sensor_token, wire.encode(make_batch([old, flow(orig_h="10.0.0.9")]))
    )
    ch = live.app.state.clickhouse
    assert ch.query("SELECT sum(flows) AS f, sum(bytes) AS b FROM traffic_1m")[0] == {
        "f": 1,
        "b": 1400,
    }


def test_workers_storing_the_same_batch_at_once_store_it_once(live, live_tenants):
    """Two ingest workers (each with its own per-sensor locks, as two core processes have) get the
    same batch from eight requests at once: the deduplication tokens store it once."""
    from concurrent.futures import ThreadPoolExecutor

    from core.ingest import Ingestor

    acme, _ = live_tenants
    store = live.app.state.clickhouse
    workers = [Ingestor(store), Ingestor(store)]
    body = wire.encode(make_batch([flow(), flow(orig_h="10.0.0.3", nbytes=100, pkts=2)]))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: workers[i % 2].ingest(acme.id, acme.sensor_id, body).status, range(8)))
    assert "stored" in results
    counts = row_counts(live.app)
    assert (counts["flows"], counts["events"], counts["observations"]) == (2, 1, 2)
    assert store.query("SELECT count() AS n FROM batches")[0]["n"] == 1
    assert store.query("SELECT sum(bytes) AS b, sum(flows) AS f FROM traffic_1m")[0] == {"b": 800, "f": 2}


def test_a_sensors_last_seen_is_written_at_most_every_30_seconds(tmp_path):
    """Uploads note last_seen without a database write each (hundreds of sensors upload at once)."""
    from core.access import accounts
    from core.store.controlplane import TOUCH_EVERY, ControlPlane, Sensor

    cp = ControlPlane(f"sqlite:///{tmp_path / 'control.db'}")
    cp.create_schema()
    with cp.sessions() as db:
        sensor_id = accounts.create_sensor(db, accounts.create_tenant(db, "acme"), "SN-1")[0].id
        db.commit()

    def seen():
        with cp.sessions() as db:
            return db.get(Sensor, sensor_id).last_seen
    cp.touch_sensor(sensor_id, T0)
    cp.touch_sensor(sensor_id, T0 + TOUCH_EVERY - timedelta(seconds=1))
    assert seen() == T0
    cp.touch_sensor(sensor_id, T0 + TOUCH_EVERY)
    assert seen() == T0 + TOUCH_EVERY
    cp.touch_sensor(sensor_id, T0)  # the clock went back: written
    assert seen() == T0
    cp.close()


def test_a_stored_batch_is_answered_stored_even_if_last_seen_cannot_be_written(live, live_tenants, http):
    """last_seen is a note beside the batch: a control-plane write that fails (SQLite's "database is
    locked" under load) must not turn a stored batch's answer into a 5xx, and is tried again next upload."""
    from sqlalchemy import event

    from core.store.controlplane import Sensor

    acme, _ = live_tenants
    cp = live.app.state.controlplane

    def locked(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE SENSORS SET LAST_SEEN"):
            raise conn.dialect.loaded_dbapi.OperationalError("database is locked")  # as the driver raises it

    event.listen(cp.engine, "before_cursor_execute", locked)
    try:
        r = post_batch(http, acme.sensor_token, wire.encode(make_batch()))
    finally:
        event.remove(cp.engine, "before_cursor_execute", locked)
    assert r.status_code == 200 and r.json()["status"] == "stored", r.text
    with cp.sessions() as db:
        assert db.get(Sensor, acme.sensor_id).last_seen is None
    r = post_batch(http, acme.sensor_token, wire.encode(make_batch()))
    assert r.status_code == 200 and r.json()["status"] == "stored", r.text
    with cp.sessions() as db:
        assert db.get(Sensor, acme.sensor_id).last_seen is not None
