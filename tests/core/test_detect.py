"""Detection at ingest (core/detect/engine.py) through the real app and chDB: learning, the stateful
kinds, determinism, resends, folding, relearn and learn-from-alert. Each test has its own tenant."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from coretest import T0, fail_commit_markers, flow, make_batch, post_batch, provision

from core.detect import store
from core.detect.engine import alert_id, micros
from core.store.controlplane import Tenant
from sensor import wire

_names = itertools.count()
HOUR = timedelta(hours=1)
PLC, HMI, LAPTOP = ("10.0.0.2", "00:1b:1b:00:00:02"), ("10.0.0.1", "00:1b:1b:00:00:01"), ("10.0.0.66", "02:00:00:00:00:66")


@pytest.fixture
def site(client):
    """A tenant learning for one hour, and a way to post its batches."""
    tenant = provision(client.app, f"site{next(_names)}")
    with client.app.state.controlplane.session() as db:
        db.get(Tenant, tenant.id).learning_hours = 1

    def post(batch: wire.Batch) -> dict:
        r = post_batch(client, tenant.sensor_token, wire.encode(batch))
        assert r.status_code == 200, r.text
        return r.json()

    tenant.post = post
    tenant.ch = client.app.state.clickhouse
    tenant.alerts = lambda **kw: store.list_alerts(client.app.state.clickhouse, tenant.id, **kw)
    return tenant


def poll(start, orig=HMI, resp=PLC, action="read_holding_registers", service="modbus", **kw):
    """A minute of Modbus polling from ``orig`` to ``resp`` (flow, event and the PLC's facts)."""
    uid = f"C{orig[0]}{resp[0]}{service}"
    return dict(
        flows=[flow(orig_h=orig[0], resp_h=resp[0], service=service, ts=start, uid=uid,
                    orig_l2_addr=orig[1], resp_l2_addr=resp[1])],
        events=[dict(ts=start, ts_end=start + timedelta(seconds=30), count=3, uid=uid, orig_h=orig[0],
                     resp_h=resp[0], resp_p=502, protocol="modbus", action=action, status="ok", attrs={})],
        observations=kw.get("observations", [
            dict(ts=start, mac=PLC[1], ip=PLC[0], attribute="firmware", value=kw.get("firmware", "V1.0"),
                 source="modbus", confidence=90)]),
    )


def batch(start, *parts) -> wire.Batch:
    merged = {"flows": [], "events": [], "observations": []}
    for p in parts:
        for k in merged:
            merged[k] += p[k]
    return make_batch(merged["flows"], merged["events"], merged["observations"], start=start)


def learned(site) -> None:
    """The tenant's sensor learns plain polling over its hour."""
    site.post(batch(T0, poll(T0)))
    site.post(batch(T0 + timedelta(minutes=30), poll(T0 + timedelta(minutes=30))))


def by_kind(alerts) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for a in alerts:
        out.setdefault(a["kind"], []).append(a)
    return out


def test_the_learning_period_raises_nothing_and_what_is_new_after_it_raises(site):
    intruder = poll(T0 + 2 * HOUR, orig=LAPTOP, action="write_single_register")
    # the same unusual traffic while learning is normal
    site.post(batch(T0, poll(T0, firmware="V0.9"), poll(T0, orig=LAPTOP, action="write_single_register")))
    site.post(batch(T0 + timedelta(minutes=5), poll(T0 + timedelta(minutes=5))))  # firmware V0.9 → V1.0
    assert site.alerts() == []
    site.post(batch(T0 + 2 * HOUR, intruder))
    assert site.alerts() == []  # learned: nothing is new, and the firmware is as last seen


def test_new_device_link_and_function_after_learning(site):
    learned(site)
    later = T0 + 2 * HOUR
    site.post(batch(later, poll(later), poll(later, orig=LAPTOP, action="write_single_register")))
    found = by_kind(site.alerts())
    assert set(found) == {"new_device", "new_link", "new_ot_function"}
    (device,) = found["new_device"]  # the laptop's MAC and IP are one device
    assert (device["severity"], device["src"]["mac"], device["src"]["ip"]) == ("medium", LAPTOP[1], LAPTOP[0])
    assert device["technique"] == "T0848" and device["evidence"] == [f"C{LAPTOP[0]}{PLC[0]}modbus"]
    (link,) = found["new_link"]
    assert (link["severity"], link["src"]["ip"], link["dst"]["ip"], link["protocol"]) == \
        ("low", LAPTOP[0], PLC[0], "modbus")
    assert (link["src"]["mac"], link["dst"]["mac"]) == (LAPTOP[1], PLC[1])
    (function,) = found["new_ot_function"]
    assert (function["severity"], function["src"]["ip"], function["dst"]["ip"]) == ("high", LAPTOP[0], PLC[0])
    assert function["details"]["function"] == "write_single_register" and function["count"] == 3
    assert function["status"] == "new" and function["ts"] == later


def test_a_known_pair_using_a_new_function_raises_only_that(site):
    learned(site)
    later = T0 + 2 * HOUR
    site.post(batch(later, poll(later, action="write_multiple_registers")))
    (alert,) = site.alerts()
    assert (alert["kind"], alert["src"]["ip"], alert["dst"]["ip"]) == ("new_ot_function", HMI[0], PLC[0])
    detail = store.get_alert(site.ch, site.id, alert["id"])
    assert [e["action"] for e in detail["evidence_events"]] == ["write_multiple_registers"]
    assert [f["uid"] for f in detail["evidence_flows"]] == [f"C{HMI[0]}{PLC[0]}modbus"]


def test_repeats_fold_and_a_resent_batch_raises_nothing_twice(site):
    learned(site)
    first = batch(T0 + 2 * HOUR, poll(T0 + 2 * HOUR, action="write_single_register"))
    assert site.post(first)["status"] == "stored"
    assert site.post(first)["status"] == "duplicate"
    (alert,) = site.alerts()
    assert alert["count"] == 3
    later = T0 + 3 * HOUR
    site.post(batch(later, poll(later, action="write_single_register")))
    (folded,) = site.alerts()
    assert (folded["id"], folded["count"], folded["ts"], folded["ts_last"]) == \
        (alert["id"], 6, alert["ts"], later + timedelta(seconds=30))


def test_the_same_data_gives_the_same_alerts(client):
    """Ids derive from tenant, sensor, kind, key and first time; two tenants fed the same data get
    the same alerts but for those ids."""
    seen = []
    for _ in range(2):
        tenant = provision(client.app, f"twin{next(_names)}")
        with client.app.state.controlplane.session() as db:
            db.get(Tenant, tenant.id).learning_hours = 1
        for start, action in ((T0, "read_holding_registers"), (T0 + 2 * HOUR, "write_single_register")):
            b = batch(start, poll(start, action=action))
            assert post_batch(client, tenant.sensor_token, wire.encode(b)).status_code == 200
        (alert,) = store.list_alerts(client.app.state.clickhouse, tenant.id)
        key = f"{HMI[0]}>{PLC[0]}|modbus|write_single_register"
        assert alert["id"] == alert_id(tenant.id, tenant.sensor_id, "new_ot_function", key, micros(T0 + 2 * HOUR))
        seen.append({k: v for k, v in alert.items() if k not in ("id", "sensor_id")})
    assert seen[0] == seen[1]


def test_device_and_firmware_change(site):
    learned(site)
    later = T0 + 2 * HOUR
    facts = [dict(ts=later, mac=PLC[1], ip=PLC[0], attribute="firmware", value="V2.0", source="modbus",
                  confidence=90),
             dict(ts=later, mac=PLC[1], ip=PLC[0], attribute="hostname", value="plc-1", source="dhcp",
                  confidence=80)]
    site.post(batch(later, poll(later, observations=facts)))
    (firmware,) = site.alerts()  # the first hostname is no change
    assert (firmware["kind"], firmware["severity"], firmware["src"]["mac"]) == ("firmware_change", "high", PLC[1])
    assert firmware["details"] == {"attribute": "firmware", "value": "V2.0", "source": "modbus",
                                        "previous": "V1.0"}
    facts[1] = facts[1] | {"value": "evil-plc", "ts": later + HOUR}
    site.post(batch(later + HOUR, poll(later + HOUR, observations=facts[1:])))
    change = by_kind(site.alerts())["device_change"][0]
    assert change["details"]["previous"] == "plc-1" and change["details"]["value"] == "evil-plc"


def test_a_batch_whose_commit_fails_after_detection_raises_nothing_twice_when_resent(site, client, monkeypatch):
    """The core stops (here: its commit marker fails) after detecting a batch: the sensor resends
    it, it is stored and detected again, and no alert is raised or counted twice."""
    learned(site)
    ingestor = client.app.state.ingestor
    b = batch(T0 + 2 * HOUR, poll(T0 + 2 * HOUR, orig=LAPTOP, action="write_single_register"))
    fail_commit_markers(monkeypatch, ingestor, "core stopped")
    r = post_batch(client, site.sensor_token, wire.encode(b))
    assert r.status_code == 503
    raised = sorted((a["kind"], a["count"]) for a in site.alerts())
    assert raised == [("new_device", 1), ("new_link", 1), ("new_ot_function", 3)]
    monkeypatch.undo()
    assert site.post(b)["status"] == "stored"
    assert sorted((a["kind"], a["count"]) for a in site.alerts()) == raised
    assert site.post(b)["status"] == "duplicate"
    assert sorted((a["kind"], a["count"]) for a in site.alerts()) == raised


def test_a_failing_detection_never_loses_the_batch(site, client, monkeypatch):
    learned(site)

    def broken(*args):
        raise RuntimeError("a bug in detection")

    monkeypatch.setattr(client.app.state.detector, "examine", broken)
    b = batch(T0 + 2 * HOUR, poll(T0 + 2 * HOUR, orig=LAPTOP))
    assert site.post(b)["status"] == "stored"
    stored = site.ch.query("SELECT count() AS n FROM flows WHERE tenant_id = {t:UInt32} AND batch_id = {b:UUID}",
                           {"t": site.id, "b": b.batch_id})
    assert stored[0]["n"] == 1 and site.alerts() == []


def test_relearn_learns_again_from_the_next_data(site, client):
    learned(site)
    later = T0 + 2 * HOUR
    site.post(batch(later, poll(later, orig=LAPTOP)))
    before = {(a["kind"], a["src"]["ip"]) for a in site.alerts()}
    assert before == {("new_device", LAPTOP[0]), ("new_link", LAPTOP[0]), ("new_ot_function", LAPTOP[0])}
    with client.app.state.controlplane.session() as db:
        tenant = db.get(Tenant, site.id)
        tenant.learning_epoch = (tenant.learning_epoch or 0) + 1  # what `mieruka tenants relearn` does
    relearn = T0 + 5 * HOUR
    site.post(batch(relearn, poll(relearn, action="write_single_register")))  # learning again: normal
    site.post(batch(relearn + 2 * HOUR, poll(relearn + 2 * HOUR, action="write_single_register")))
    assert {(a["kind"], a["src"]["ip"]) for a in site.alerts()} == before
    site.post(batch(relearn + 2 * HOUR + timedelta(minutes=1),
                    poll(relearn + 2 * HOUR, action="write_multiple_registers")))
    assert {(a["kind"], a["src"]["ip"]) for a in site.alerts()} - before == {("new_ot_function", HMI[0])}


STIX_IP, STIX_DOMAIN, CSV_JA3, CSV_HASSH = "203.0.113.9", "evil.example", "bd9c99b3a0f752c3ab8b052a79e9de3e", \
    "0df0d56bb50c6b2426d8d40234bf1826"


def stix_bundle() -> str:
    import stix2

    return stix2.Bundle(objects=[
        stix2.Indicator(name="C2 server", pattern=f"[ipv4-addr:value = '{STIX_IP}']", pattern_type="stix"),
        stix2.Indicator(name="phishing", pattern=f"[domain-name:value = '{STIX_DOMAIN}']", pattern_type="stix"),
        stix2.Indicator(name="yara", pattern="rule x { condition: true }", pattern_type="yara"),
    ]).serialize()


def test_indicators_from_stix_and_csv_match_flows_dns_tls_and_ssh(site, client, tmp_path):
    from core.detect.indicators import import_file

    ch = client.app.state.clickhouse
    (tmp_path / "feed.json").write_text(stix_bundle())
    (tmp_path / "feed.csv").write_text(f"type,value,note\nja3,{CSV_JA3},old client\nhassh,{CSV_HASSH},\n"
                                       "ip,not-an-ip,\n")
    assert import_file(ch, tmp_path / "feed.json", site.id) == (2, 1)
    assert import_file(ch, tmp_path / "feed.csv", site.id) == (2, 1)
    client.app.state.detector.indicators.reload_s = 0
    t = T0 + 10 * HOUR
    pc = ("10.0.0.80", "00:1b:1b:00:00:80")
    dns = dict(ts=t, ts_end=t, count=1, uid="Cdns", orig_h=pc[0], resp_h="10.0.0.53", resp_p=53, protocol="dns",
               action="query", status="", attrs={"qname": "www." + STIX_DOMAIN})
    tls = dict(ts=t, ts_end=t, count=1, uid="Ctls", orig_h=pc[0], resp_h="198.51.100.7", resp_p=443,
               protocol="ssl", action="handshake", status="", attrs={"ja3": CSV_JA3, "server_name": "ok.example"})
    ssh = dict(ts=t, ts_end=t, count=1, uid="Cssh", orig_h=pc[0], resp_h="10.0.0.2", resp_p=22, protocol="ssh",
               action="handshake", status="", attrs={"hassh": CSV_HASSH})
    c2 = flow(orig_h=pc[0], resp_h=STIX_IP, service="ssl", ts=t, uid="Cc2", orig_l2_addr=pc[1])
    # while learning, too: a listed indicator is never normal
    site.post(make_batch([c2], [dns, tls, ssh], [], start=t))
    found = {a["details"]["indicator_type"]: a for a in site.alerts(kind=["indicator_match"])}
    assert set(found) == {"ip", "domain", "ja3", "hassh"}
    assert (found["ip"]["src"]["ip"], found["ip"]["dst"]["ip"], found["ip"]["evidence"]) == (pc[0], STIX_IP, ["Cc2"])
    assert found["ip"]["details"]["note"] == "C2 server" and found["ip"]["severity"] == "high"
    assert (found["domain"]["details"]["indicator"], found["domain"]["details"]["field"]) == (STIX_DOMAIN, "qname")
    assert found["ja3"]["dst"]["ip"] == "198.51.100.7" and found["hassh"]["evidence"] == ["Cssh"]
    other = provision(client.app, f"other{next(_names)}")  # a tenant's list is its own
    post_batch(client, other.sensor_token, wire.encode(make_batch([c2], [], [], start=t)))
    assert store.list_alerts(ch, other.id, kind=["indicator_match"]) == []


def test_sensor_silent_after_its_threshold(site, client):
    from core.store.controlplane import Sensor

    detector = client.app.state.detector
    with client.app.state.controlplane.session() as db:
        sensor = db.get(Sensor, site.sensor_id)
        sensor.last_seen, sensor.silent_minutes = T0, 10
    assert [a for a in detector.check_silent(T0 + timedelta(minutes=10)) if a["sensor_id"] == site.sensor_id] == []
    (alert,) = [a for a in detector.check_silent(T0 + timedelta(minutes=11)) if a["sensor_id"] == site.sensor_id]
    assert (alert["kind"], alert["severity"], alert["ts"]) == ("sensor_silent", "medium", T0 + timedelta(minutes=10))
    detector.check_silent(T0 + timedelta(minutes=12))
    (folded,) = site.alerts(kind=["sensor_silent"])
    assert (folded["id"], folded["count"], folded["ts_last"]) == (alert["id"], 2, T0 + timedelta(minutes=12))
    with client.app.state.controlplane.session() as db:
        db.get(Sensor, site.sensor_id).last_seen = None  # keep the other tests' checks quiet
