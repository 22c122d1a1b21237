"""Detection of a group of batches (group commit → ``Detector.examine`` while the rows are stored,
then ``write``) gives exactly the alerts and the baseline the same batches give stored one by one:
the simulated plant with its incidents, through the real pipeline, into real chDB; the learning rows
(each sensor's first data time) too, and indicator matches against a global list.

Two sensors of a tenant: the first sends the whole capture, the second joins halfway, so it is
learning (its period starts with its first data) while the first is past it. In each group the
second's batch comes first: what it learns must be known to the first's batch right after it,
before anything is written — as when they are stored one by one.
"""

from __future__ import annotations

import json

import pytest
from coretest import provision

from core.access import accounts
from core.ingest import _Pending
from core.store.controlplane import Tenant
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import INDICATOR_DOMAIN, INTERNET, LEARN_FRACTION, write_pcap

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


def stored(ch, tenant_id: int, sensors: list[int]) -> tuple[list[dict], list[tuple], list[tuple]]:
    """The tenant's alerts (sensor by index, without ids and versions), baseline and learning rows
    (sensor by index, epoch, first data time), sorted."""
    alerts = [{k: v for k, v in r.items() if k not in IGNORED} | {"sensor": sensors.index(r["sensor_id"])}
              for r in ch.query("SELECT * FROM alerts FINAL WHERE tenant_id = {t:UInt32}", {"t": tenant_id})]
    baseline = sorted((r["kind"], r["key"], r["value"]) for r in ch.query(
        "SELECT kind, key, value FROM detect_baseline FINAL WHERE tenant_id = {t:UInt32}", {"t": tenant_id}))
    learning = sorted((sensors.index(r["sensor_id"]), r["epoch"], r["first_ts"]) for r in ch.query(
        "SELECT sensor_id, epoch, first_ts FROM detect_learning WHERE tenant_id = {t:UInt32}", {"t": tenant_id}))
    return sorted(alerts, key=lambda a: (a["sensor"], a["kind"], a["key"], a["ts"])), baseline, learning


def listed_globally(ch) -> None:
    """A global indicator list naming the plant's web server and its command-and-control domain."""
    ch.insert_rows("indicators", [{"tenant_id": 0, "type": t, "value": v, "note": "", "source": "test"}
                                  for t, v in (("ip", INTERNET["web"]), ("domain", INDICATOR_DOMAIN))])


def test_a_group_detects_exactly_as_its_batches_one_by_one(client, plant):
    steps, hours, laptop = plant
    app = client.app
    ingestor, ch = app.state.ingestor, app.state.clickhouse
    alone, alone_sensors = tenant_with_two_sensors(app, "alone", hours)
    grouped, grouped_sensors = tenant_with_two_sensors(app, "grouped", hours)
    listed_globally(ch)
    for step in steps:
        bodies = [(s, wire.encode(b)) for s, b in step]
        for s, body in bodies:
            assert ingestor.ingest(alone, alone_sensors[s], body).status == "stored"
        group = [_Pending(grouped, grouped_sensors[s], wire.decode(body)) for s, body in bodies]
        ingestor._store(group)  # what group commit calls with the batches that arrived together
        assert [p.status for p in group] == ["stored"] * len(group)

    alerts, baseline, learning = stored(ch, grouped, grouped_sensors)
    assert (alerts, baseline, learning) == stored(ch, alone, alone_sensors)
    kinds = {(a["sensor"], a["kind"]) for a in alerts}
    assert {(0, "plc_stop"), (0, "plc_program_change"), (0, "smbv1"), (0, "remote_access"),
            (0, "indicator_match"), (1, "indicator_match")} <= kinds, kinds
    assert {json.loads(a["details"])["indicator"] for a in alerts if a["kind"] == "indicator_match"} == {
        INTERNET["web"], INDICATOR_DOMAIN}
    assert [s for s, _, _ in learning] == [0, 1]  # one row per sensor
    # the second sensor, learning, took the laptop in just before the first sensor's batch showed it
    assert ("device", laptop, "") in baseline and (0, "new_device") not in kinds
