"""Changes between two periods (差分, issue 12) on a simulated plant captured twice, a week apart: a
camera removed, a laptop added, a firmware upgraded, new links and a new function; through the API,
its CSV and its refusals."""

from __future__ import annotations

import csv
import io

import pytest
import twoperiods
from coretest import bearer, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from sensor import wire


@pytest.fixture(scope="module")
def plant(module_settings, tmp_path_factory):
    """(client, tenant, the two periods), the capture ingested through the core's Ingestor."""
    periods = twoperiods.build(tmp_path_factory.mktemp("plant"))
    with TestClient(create_app(module_settings)) as client:
        acme = provision(client.app, "acme")
        provision(client.app, "globex")
        for batch in periods.batches:
            assert client.app.state.ingestor.ingest(acme.id, acme.sensor_id, wire.encode(batch)).status == "stored"
        yield client, acme, periods


def query(periods, **extra) -> dict:
    (a_start, a_end), (b_start, b_end) = periods.a, periods.b
    return {"a_start": a_start.isoformat(), "a_end": a_end.isoformat(), "b_start": b_start.isoformat(),
            "b_end": b_end.isoformat()} | extra


def get_changes(plant, **extra) -> dict:
    client, acme, periods = plant
    r = client.get("/api/v1/changes", params=query(periods, **extra), headers=bearer(acme.api_token))
    assert r.status_code == 200, r.text
    return r.json()


def test_devices_added_and_removed(plant):
    found = get_changes(plant)
    devices = plant[2].devices
    assert [d["device"] for d in found["devices_added"]] == [twoperiods.LAPTOP["mac"]]
    assert found["devices_added"][0]["hostname"] == twoperiods.LAPTOP["hostname"]
    assert [d["device"] for d in found["devices_removed"]] == [devices[twoperiods.GONE]["mac"]]
    removed = found["devices_removed"][0]
    assert (removed["ip"], removed["role"]) == (devices[twoperiods.GONE]["ip"], "camera")
    assert removed["first_seen"] >= plant[2].a[0].isoformat().replace("+00:00", "")


def test_the_firmware_upgrade_and_nothing_else_changed(plant):
    found = get_changes(plant)
    name, old, new = twoperiods.UPGRADED
    logix = plant[2].devices[name]
    assert [(c["device"], c["attribute"], c["old"], c["new"]) for c in found["attributes_changed"]] == [
        (logix["mac"], "firmware", old, new)]


def test_pairs_added_removed_and_functions_newly_used(plant):
    found = get_changes(plant)
    gone = plant[2].devices[twoperiods.GONE]["ip"]
    assert {(p["orig_h"], p["resp_h"], p["service"]) for p in found["pairs_added"]} == twoperiods.NEW_LINKS
    assert found["pairs_removed"] and all(gone in (p["orig_h"], p["resp_h"]) for p in found["pairs_removed"])
    nvr = plant[2].devices["nvr-1"]
    assert (nvr["ip"], gone, "rtsp") in {(p["orig_h"], p["resp_h"], p["service"]) for p in found["pairs_removed"]}
    assert [(f["orig_h"], f["resp_h"], f["protocol"], f["action"]) for f in found["functions_added"]] == [
        twoperiods.NEW_FUNCTION]
    # both ends link to their devices
    ssh = next(p for p in found["pairs_added"] if p["service"] == "ssh")
    assert (ssh["orig_device"], ssh["resp_device"]) == (twoperiods.LAPTOP["mac"], plant[2].devices["srv-infra"]["mac"])
    assert ssh["bytes"] > 0 and found["functions_added"][0]["count"] == 1
    assert found["totals"] == {name: len(found[name]) for name in found["totals"]}


def test_volatile_fields_can_be_left_out(plant):
    with_volatile, without = get_changes(plant), get_changes(plant, volatile="false")
    assert without["volatile"] is False
    for name in ("devices_added", "devices_removed", "pairs_added", "pairs_removed", "functions_added"):
        assert len(without[name]) == len(with_volatile[name])
        for row in without[name]:
            assert all(row.get(k) is None for k in ("first_seen", "last_seen", "bytes", "packets", "count"))
    assert without["attributes_changed"] == with_volatile["attributes_changed"]
    # same periods, same answer: nothing volatile left to differ
    assert get_changes(plant, volatile="false") == without


def test_csv_holds_every_change(plant):
    client, acme, periods = plant
    found = get_changes(plant)
    r = client.get("/api/v1/changes.csv", params=query(periods), headers=bearer(acme.api_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == sum(found["totals"].values())
    firmware = next(row for row in rows if row["change"] == "attributes_changed")
    assert (firmware["attribute"], firmware["old"], firmware["new"]) == ("firmware", "33.11", "34.11")
    ssh = next(row for row in rows if row["change"] == "pairs_added" and row["service"] == "ssh")
    assert (ssh["ip"], ssh["peer_ip"], ssh["protocol"]) == (twoperiods.LAPTOP["ip"], "10.10.0.2", "tcp")


@pytest.mark.parametrize("bad", [
    {"a_end": "2020-01-01T00:00:00Z"},  # before a_start
    {"b_start": "2030-01-01T00:00:00Z"},  # after b_end
    {"a_start": "2026-01-05T00:00:00Z", "a_end": "2026-01-05T00:00:00Z"},  # empty
    {"b_start": "yesterday"},
])
def test_inverted_or_malformed_periods_are_refused(plant, bad):
    client, acme, periods = plant
    for path in ("/api/v1/changes", "/api/v1/changes.csv"):
        r = client.get(path, params=query(periods, **bad), headers=bearer(acme.api_token))
        assert r.status_code == 422, r.text
        assert r.json()["detail"]


def test_defaults_and_isolation(plant):
    client, acme, periods = plant
    # no periods: the last 7 days of data against the 7 days before — here B is the shifted copy
    default = client.get("/api/v1/changes", headers=bearer(acme.api_token)).json()
    assert default["b"]["end"] > periods.b[0].isoformat().replace("+00:00", "")
    assert twoperiods.LAPTOP["mac"] in {d["device"] for d in default["devices_added"]}
    # another tenant's changes are its own (empty), never acme's
    globex_token = provision(client.app, "initech").api_token
    other = client.get("/api/v1/changes", params=query(periods), headers=bearer(globex_token)).json()
    assert not any(other[name] for name in other["totals"])
    assert client.get("/api/v1/changes", params=query(periods)).status_code == 401


def test_the_ledger_api_by_period(plant):
    client, acme, periods = plant
    auth = bearer(acme.api_token)

    def devices(start, end, path="/api/v1/assets"):
        r = client.get(path, params={"start": start.isoformat(), "end": end.isoformat()}, headers=auth)
        assert r.status_code == 200, r.text
        return r

    gone, laptop = periods.devices[twoperiods.GONE]["mac"], twoperiods.LAPTOP["mac"]
    in_a = {d["device"] for d in devices(*periods.a).json()}
    in_b = {d["device"] for d in devices(*periods.b).json()}
    assert gone in in_a - in_b and laptop in in_b - in_a
    assert twoperiods.LAPTOP["ip"] in devices(*periods.b, path="/api/v1/assets.csv").text
    for path in ("/api/v1/assets", "/api/v1/assets.csv"):
        inverted = client.get(path, params={"start": periods.b[1].isoformat(), "end": periods.b[0].isoformat()},
                              headers=auth)
        assert inverted.status_code == 422 and "start must be before end" in inverted.json()["detail"]


def test_no_raw_table_is_read(plant):
    """Delete every raw row: both periods' changes, with and without volatile fields, stay the same.
    (Runs last in this module.)"""
    before = [get_changes(plant), get_changes(plant, volatile="false")]
    store = plant[0].app.state.clickhouse
    for raw in ("flows", "events", "observations"):
        store.command(f"TRUNCATE TABLE {raw}")
    assert [get_changes(plant), get_changes(plant, volatile="false")] == before
