"""The monthly data budget: a sensor that has used 90 % of its allowance sends every event and
observation as usual but its flows as per-pair, per-service summaries; `status`, its health report
and the core's sensor list say so, and the core's totals still equal the capture's."""

from __future__ import annotations

import pytest
from capturetest import capture_totals
from coretest import LiveServer, provision
from installtest import sensor
from runtest import api_get, eventually, sensor_run, write_config
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from sensor import simulate
from sensor.meter import pipeline
from sensor.ship import health
from sensor.site.config import MIB
from sensor.meter.observe import Observer
from sensor.ship.spool import Spool

INTERVAL, PERIOD = 5.0, 30.0


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("core"))))) as server:
        yield server


def stored(core, table: str, tenant) -> int:
    return core.app.state.clickhouse.query(f"SELECT count() AS n FROM {table} WHERE tenant_id = {{t:UInt32}}",
                                           {"t": tenant.id})[0]["n"]


def test_near_the_budget_flows_travel_as_summaries(core, tmp_path):
    (tmp_path / "site").mkdir()
    capture = tmp_path / "site" / "eth1.pcap"
    simulate.write_pcap(capture, packets=10_000, seed=4)
    counted = capture_totals(capture)
    produced = list(pipeline.iter_batches([capture], INTERVAL, observer=Observer()))
    tenant = provision(core.app, "budget")
    config = write_config(tmp_path / "sensor.toml", core.url, tenant, "SN-budget", monthly_budget_mb=1,
                          interval_s=INTERVAL, economy_interval_s=PERIOD, heartbeat_s=1.0)
    health.record_upload(Spool(tmp_path / "spool").dir, int(0.9 * MIB), delivered=True)  # earlier this month

    status = sensor("status", config=config, capture=None).stdout
    assert "(90.0%); economy mode: flows summarised per pair and service every 0.5 min" in status, status

    with sensor_run(config, tmp_path / "site") as run:
        run.wait_for("the capture ended")  # the last summary goes out then
        eventually(lambda: api_get(core.url, tenant, "/api/v1/totals")["packets"] == counted["packets"])
        eventually(lambda: api_get(core.url, tenant, "/api/v1/sensors")[0]["health"]["data_mode"] == "economy")
        assert run.stop() == 0, run.log

    totals = api_get(core.url, tenant, "/api/v1/totals")
    assert (totals["captured_packets"], totals["packets"]) == (counted["packets"], counted["packets"])
    assert totals["bytes"] == counted["layer_bytes"] and totals["batches"] > len(produced)  # + the summaries
    flows = api_get(core.url, tenant, "/api/v1/flows", limit=1000)
    assert flows and all(f["uid"].startswith("S") and f["conn_state"] == "" for f in flows)
    assert len(flows) < sum(b.rows("flows") for b in produced)
    assert stored(core, "events", tenant) == sum(b.rows("events") for b in produced) > 0
    assert stored(core, "observations", tenant) == sum(b.rows("observations") for b in produced) > 0
