"""Detection of a group of batches (group commit → ``Detector.examine`` while the rows are stored,
then ``write``) gives exactly the alerts and the baseline the same batches give stored one by one:
the simulated plant with its incidents, through the real pipeline, into real chDB.

Two sensors of a tenant: the first sends the whole capture, the second joins halfway, so it is
learning (its period starts with its first data) while the first is past it. In each group the
second's batch comes first: what it learns must be known to the first's batch right after it,
before anything is written — as when they are stored one by one.
"""

from __future__ import annotations

import pytest
from coretest import provision

from core.access import accounts
from core.ingest import _Pending
from core.store.controlplane import Tenant
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import LEARN_FRACTION, write_pcap

IGNORED = ("tenant_id", "id", "sensor_id", "version")  # differ between tenants, or the clock


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """Per step, the (sensor index, batch) pairs in the order they are stored; the learning hours; the
    intruding laptop's MAC."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    summary = write_pcap(path, 20_000, seed=5)
    batches = list(iter_batches([path], 10.0, observer=Observer()))
    half = len(batches) // 2
    steps = [([(1, b)] if i >= half else []) + [(0, b)] for i, b in enumerate(batches)]
    laptop = next(d["mac"] for d in summary["devices"] if d["role"] == "unknown")  # the incidents' intruder
    return steps, LEARN_FRACTION * (summary["end"] - summary["start"]) / 3600, laptop


def tenant_with_two_sensors(app, name: str, learning_hours: float) -> tuple[int, list[int]]:
    tenant = provision(app, name)
    with app.state.controlplane.session() as db:
        row = db.get(Tenant, tenant.id)
        row.learning_hours = learning_hours
        second, _ = accounts.create_sensor(db, row, f"SN-{name}-2")
        db.flush()
        return tenant.id, [tenant.sensor_id, second.id]


def stored(ch, tenant_id: int, sensors: list[int]) -> tuple[list[dict], list[tuple]]:
    """The tenant's alerts (sensor by index, without ids and versions) and baseline, sorted."""
    alerts = [{k: v for k, v in r.items() if k not in IGNORED} | {"sensor": sensors.index(r["sensor_id"])}
              for r in ch.query("SELECT * FROM alerts FINAL WHERE tenant_id = {t:UInt32}", {"t": tenant_id})]
    baseline = sorted((r["kind"], r["key"], r["value"]) for r in ch.query(
        "SELECT kind, key, value FROM detect_baseline FINAL WHERE tenant_id = {t:UInt32}", {"t": tenant_id}))
    return sorted(alerts, key=lambda a: (a["sensor"], a["kind"], a["key"], a["ts"])), baseline


def test_a_group_detects_exactly_as_its_batches_one_by_one(client, plant):
    steps, hours, laptop = plant
    app = client.app
    ingestor, ch = app.state.ingestor, app.state.clickhouse
    alone, alone_sensors = tenant_with_two_sensors(app, "alone", hours)
    grouped, grouped_sensors = tenant_with_two_sensors(app, "grouped", hours)
    for step in steps:
        bodies = [(s, wire.encode(b)) for s, b in step]
        for s, body in bodies:
            assert ingestor.ingest(alone, alone_sensors[s], body).status == "stored"
        group = [_Pending(grouped, grouped_sensors[s], wire.decode(body)) for s, body in bodies]
        ingestor._store(group)  # what group commit calls with the batches that arrived together
        assert [p.status for p in group] == ["stored"] * len(group)

    alerts, baseline = stored(ch, grouped, grouped_sensors)
    assert (alerts, baseline) == stored(ch, alone, alone_sensors)
    kinds = {(a["sensor"], a["kind"]) for a in alerts}
    assert {(0, "plc_stop"), (0, "plc_program_change"), (0, "smbv1"), (0, "remote_access")} <= kinds, kinds
    # the second sensor, learning, took the laptop in just before the first sensor's batch showed it
    assert ("device", laptop, "") in baseline and (0, "new_device") not in kinds
