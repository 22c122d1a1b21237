"""When detection's joint pass over a group fails (``engine._together``: the group's sightings, or its
indicator matches), each batch is worked out on its own: the alerts, the baseline and the learning rows
end exactly as for the same batches stored one by one, and the failure is logged once.

The simulated plant from two sensors of a tenant (the second joins halfway, learning while the first
detects), with a global indicator list; beside a reference tenant storing the same batches one by one.
The joint sightings fail for the first group of two batches, the joint indicator matching for the next.
"""

from __future__ import annotations

import logging

import pytest
from test_detect_groups import listed_globally, stored, tenant_with_two_sensors

from core.detect import engine
from core.ingest import _Pending
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import LEARN_FRACTION, write_pcap


class FailForAGroup:
    """Wraps a joint pass (its first argument: the group's batches) to raise once, on the first call
    for more than one batch after ``arm``; records the sizes of the calls after that."""

    def __init__(self, real):
        self.real, self.armed, self.fired, self.after = real, False, 0, []

    def __call__(self, batches, *args):
        if self.fired:
            self.after.append(len(batches))
        if self.armed and len(batches) > 1:
            self.armed, self.fired = False, self.fired + 1
            raise RuntimeError("injected failure of the joint pass")
        return self.real(batches, *args)


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    summary = write_pcap(path, 4_000, seed=5)
    batches = list(iter_batches([path], 5.0, observer=Observer()))
    half = len(batches) // 2
    steps = [([(1, b)] if i >= half else []) + [(0, b)] for i, b in enumerate(batches)]
    return steps, LEARN_FRACTION * (summary["end"] - summary["start"]) / 3600


def test_a_failed_joint_pass_falls_back_to_each_batch_alone(client, plant, monkeypatch, caplog):
    steps, hours = plant
    app = client.app
    ingestor, ch = app.state.ingestor, app.state.clickhouse
    alone, alone_sensors = tenant_with_two_sensors(app, "fallback-alone", hours)
    grouped, grouped_sensors = tenant_with_two_sensors(app, "fallback-grouped", hours)
    listed_globally(ch)
    failing = {"sightings": FailForAGroup(engine.sightings), "indicator matching": FailForAGroup(engine.matches)}
    monkeypatch.setattr(engine, "sightings", failing["sightings"])
    monkeypatch.setattr(engine, "matches", failing["indicator matching"])
    caplog.set_level(logging.WARNING, logger=engine.__name__)

    changed = []  # per failed group: whether it learned or raised anything
    for step in steps:
        bodies = [(s, wire.encode(b)) for s, b in step]
        for s, body in bodies:
            assert ingestor.ingest(alone, alone_sensors[s], body).status == "stored"
        # the first group of two: the joint sightings fail; the next, the joint indicator matching
        for f in failing.values():
            f.armed = False
        armed = next((f for f in failing.values() if not f.fired), None) if len(step) > 1 else None
        if armed:
            armed.armed = True
        group = [_Pending(grouped, grouped_sensors[s], wire.decode(body)) for s, body in bodies]
        before = stored(ch, grouped, grouped_sensors)
        ingestor._store(group)  # what group commit calls with the batches that arrived together
        assert [p.status for p in group] == ["stored"] * len(group)
        if armed:
            changed.append(stored(ch, grouped, grouped_sensors) != before)

    assert [f.fired for f in failing.values()] == [1, 1]
    # right after its failure each pass ran on each batch of the group alone
    assert all(f.after[:2] == [1, 1] for f in failing.values()), [f.after[:4] for f in failing.values()]
    assert stored(ch, grouped, grouped_sensors) == stored(ch, alone, alone_sensors)
    logged = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert logged == ["sightings failed for a group of 2 batches; each batch on its own",
                      "indicator matching failed for a group of 2 batches; each batch on its own"], logged
    alerts, baseline, _ = stored(ch, grouped, grouped_sensors)
    assert changed == [True, True]  # both failed groups learned or raised something
    assert alerts and baseline
