"""A failed write of a group's detection costs nothing: the group is not acknowledged, each batch is
stored again on its own, and the alerts, the baseline and forwarding's outbox end as for the same
batches stored without a failure — every stored alert queued for forwarding exactly once.

Three tenants send the same simulated plant in groups (one learning, two detecting), beside reference
tenants storing the batches one by one. Injected once each: the group's baseline insert fails; one
detecting tenant's notifications fail while the other's go through.
"""

from __future__ import annotations

import pytest
from coretest import provision
from sqlalchemy import select
from test_detect_groups import stored

from core.detect import baseline, notify
from core.forward import destinations
from core.forward.models import OutboxEntry
from core.ingest import _Pending
from core.ingest.group import _Slot
from core.store.controlplane import Tenant
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> list[wire.Batch]:
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, 4_000, seed=3)
    return list(iter_batches([path], 10.0, observer=Observer()))


def forwarding_tenant(app, name: str, learning_hours: float) -> tuple[int, int]:
    """A tenant with one sensor and one destination that takes every alert; (tenant, sensor)."""
    tenant = provision(app, name)
    with app.state.controlplane.session() as db:
        db.get(Tenant, tenant.id).learning_hours = learning_hours
        destinations.add(db, tenant.id, "siem", "udp://127.0.0.1:9", "cef")
    return tenant.id, tenant.sensor_id


def queued(app, tenant_id: int) -> list[str]:
    with app.state.controlplane.session() as db:
        return sorted(db.scalars(select(OutboxEntry.alert_id).where(OutboxEntry.tenant_id == tenant_id)))


class FailOnce:
    """Wraps a function to raise once, on the first call ``when(args)`` holds after ``arm``."""

    def __init__(self, real, when=lambda *args: True):
        self.real, self.when, self.armed, self.fired = real, when, False, 0

    def __call__(self, *args, **kwargs):
        if self.armed and self.when(*args):
            self.armed, self.fired = False, self.fired + 1
            raise RuntimeError("injected failure")
        return self.real(*args, **kwargs)


def test_a_failed_detection_write_loses_nothing_of_the_group(client, batches, monkeypatch):
    app = client.app
    ingestor, ch = app.state.ingestor, app.state.clickhouse
    learner_ref, learner = (forwarding_tenant(app, f"learner-{n}", 1e6) for n in ("ref", "grouped"))
    detector_ref, *detectors = (forwarding_tenant(app, f"detector-{n}", 0) for n in ("ref", "a", "b"))
    failing_baseline = FailOnce(baseline.write, lambda ch, rows: bool(rows))
    failing_notify = FailOnce(notify.send, lambda db, tenant_id, *alerts: tenant_id == detectors[0][0])
    monkeypatch.setattr(baseline, "write", failing_baseline)
    monkeypatch.setattr(notify, "send", failing_notify)

    for step, batch in enumerate(batches):
        body = wire.encode(batch)
        for tenant_id, sensor_id in (learner_ref, detector_ref):
            assert ingestor.ingest(tenant_id, sensor_id, body).status == "stored"
        failing_notify.armed = step == 0  # the first batch raises every device as new
        failing_baseline.armed = step == 1
        group = [_Slot(_Pending(t, s, wire.decode(body))) for t, s in (learner, *detectors)]
        ingestor._group._run(group)  # what group commit does with batches that arrived together
        assert [(slot.error, slot.item.status) for slot in group] == [(None, "stored")] * 3
    assert (failing_notify.fired, failing_baseline.fired) == (1, 1)

    for (tenant_id, sensor_id), (ref_id, ref_sensor) in ((learner, learner_ref), *((d, detector_ref) for d in detectors)):
        assert stored(ch, tenant_id, [sensor_id]) == stored(ch, ref_id, [ref_sensor])
        ids = sorted(r["id"] for r in ch.query("SELECT id FROM alerts FINAL WHERE tenant_id = {t:UInt32}",
                                               {"t": tenant_id}))
        assert queued(app, tenant_id) == ids  # every stored alert queued for forwarding once
        flows = "SELECT sum(sign) AS n FROM flows WHERE tenant_id = {t:UInt32}"
        assert ch.query(flows, {"t": tenant_id}) == ch.query(flows, {"t": ref_id})  # the rows stored once
    assert len(stored(ch, detectors[0][0], [detectors[0][1]])[0]) >= 5  # the failures hit real alerts
    assert len(stored(ch, learner[0], [learner[1]])[1]) >= 10  # and a real baseline
