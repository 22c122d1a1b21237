"""A batch's budget of new things (core/detect/budget.py): a crafted batch of many distinct addresses,
posted to the real ingest route, raises exactly the budget's alerts of each kind and one ``new_flood``
alert counting the rest; a resend adds nothing, the next batch folds; learning takes in only the
budget's first ones; a rule meeting many distinct pairs is bounded the same way; and a tenant whose
ordinary batch is stored in the same group as the flood gets exactly what it gets alone."""

from __future__ import annotations

import ipaddress
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from coretest import flow, make_batch, post_batch, provision
from test_detect_groups import stored

from core.detect.baseline import Baseline
from core.detect.engine import Detector
from core.detect.observe import sightings
from core.detect.site import Site, parse_networks
from core.ingest import _Pending
from core.store.controlplane import Tenant
from sensor import wire

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_flood import crafted, shaped  # noqa: E402

BUDGET = 100
ADDRESSES = 250  # each a new device (its MAC and address) and a new link to the PLC, one more device
DEVICE_KEYS = 2 * (ADDRESSES + 1)  # a MAC and an address each, in that order: the budget raises half as many
RAISED = {"new_device": BUDGET // 2, "new_link": BUDGET, "new_flood": 1}
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def module_settings(module_settings):
    return module_settings.model_copy(update={"detect_new_per_batch": BUDGET})


def tenant(app, name: str, learning_hours: float = 0) -> tuple[int, int, str]:
    made = provision(app, name)
    with app.state.controlplane.session() as db:
        db.get(Tenant, made.id).learning_hours = learning_hours
    return made.id, made.sensor_id, made.sensor_token


def alerts_of(ch, tenant_id: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in ch.query("SELECT * FROM alerts FINAL WHERE tenant_id = {t:UInt32}", {"t": tenant_id}):
        out.setdefault(r["kind"], []).append(r)
    return out


def baseline_of(ch, tenant_id: int) -> dict[str, int]:
    rows = ch.query("SELECT kind, count() AS n FROM detect_baseline FINAL WHERE tenant_id = {t:UInt32} GROUP BY kind",
                    {"t": tenant_id})
    return {r["kind"]: r["n"] for r in rows}


def flood_of(alerts: dict[str, list[dict]]) -> tuple[int, dict]:
    [flood] = alerts["new_flood"]
    return flood["count"], json.loads(flood["details"]) if isinstance(flood["details"], str) else flood["details"]


def test_a_flood_of_addresses_raises_the_budget_and_one_flood_alert(client):
    app = client.app
    ch, detector = app.state.clickhouse, app.state.detector
    tenant_id, sensor_id, token = tenant(app, "flooded")
    batch = crafted(ADDRESSES, START)
    assert post_batch(client, token, wire.encode(batch)).status_code == 200

    alerts = alerts_of(ch, tenant_id)
    assert {kind: len(rows) for kind, rows in alerts.items()} == RAISED
    count, details = flood_of(alerts)
    # 251 new devices (502 keys) and 250 new links: the first 100 keys of each go on, the rest counted
    assert details == {"budget": "100", "devices": str(DEVICE_KEYS), "links": str(ADDRESSES)}
    assert count == (DEVICE_KEYS - BUDGET) + (ADDRESSES - BUDGET)
    assert alerts["new_flood"][0]["severity"] == "high" and len(alerts["new_flood"][0]["evidence"]) == 20
    # the alerts raised are the batch's first new links, in the order detection sees them
    shown = sightings([wire.decode(wire.encode(batch))], [Site(tenant_id)])[0]
    assert sorted(r["key"] for r in alerts["new_link"]) == sorted([s.key for s in shown if s.kind == "link"][:BUDGET])
    assert baseline_of(ch, tenant_id) == {}  # after learning a flood teaches nothing

    # the core stopped before the commit marker: the resend is detected again, and adds nothing
    before = stored(ch, tenant_id, [sensor_id])
    assert detector.detect(tenant_id, sensor_id, wire.decode(wire.encode(batch))) == []
    assert stored(ch, tenant_id, [sensor_id]) == before

    # the next minute shows the same addresses: the first ones fold into their open alerts and are no
    # news now, so the budget goes on to the next ones (a steady flood reaches every key in turn)
    later = crafted(ADDRESSES, START + timedelta(minutes=1))
    assert post_batch(client, token, wire.encode(later)).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert {kind: len(rows) for kind, rows in alerts.items()} == {kind: 2 * n for kind, n in RAISED.items()} | {
        "new_flood": 1}
    count += (DEVICE_KEYS - 2 * BUDGET) + (ADDRESSES - 2 * BUDGET)
    assert flood_of(alerts) == (count, details)
    assert sorted(r["count"] for r in alerts["new_link"]) == [1] * BUDGET + [2] * BUDGET
    assert detector.detect(tenant_id, sensor_id, wire.decode(wire.encode(later))) == []  # a resend: nothing
    # then a rule meets as many distinct pairs: the sensor's one flood alert takes that sort in too
    body = wire.encode(public_peers(ADDRESSES, START + timedelta(minutes=2)))
    assert post_batch(client, token, body).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert len(alerts["internet_exposure"]) == BUDGET
    assert flood_of(alerts) == (count + ADDRESSES - BUDGET, details | {"internet_exposure": str(ADDRESSES)})


def test_while_learning_a_flood_teaches_only_the_budget_s_first(client):
    app = client.app
    ch = app.state.clickhouse
    tenant_id, _, token = tenant(app, "learning", learning_hours=1e6)
    assert post_batch(client, token, wire.encode(crafted(ADDRESSES, START))).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert set(alerts) == {"new_flood"}  # learning raises nothing else, but a flood is never normal
    assert flood_of(alerts)[1] == {"budget": "100", "devices": str(DEVICE_KEYS), "links": str(ADDRESSES)}
    # the first 100 device keys (50 MACs and their addresses) and the first 100 links
    assert baseline_of(ch, tenant_id) == {"device": BUDGET, "link": BUDGET}

    # addresses behind one router's MAC raise no new_device of their own, but each is a key to learn
    tenant_id, _, token = tenant(app, "learning-routed", learning_hours=1e6)
    assert post_batch(client, token, wire.encode(shaped("dns", ADDRESSES, START))).status_code == 200
    assert flood_of(alerts_of(ch, tenant_id))[1] == {"budget": "100", "devices": str(ADDRESSES + 3),
                                                     "links": str(ADDRESSES)}
    assert baseline_of(ch, tenant_id) == {"device": BUDGET, "link": BUDGET}


def public_peers(n: int, start: datetime) -> wire.Batch:
    """One site device reaching ``n`` distinct public addresses."""
    return make_batch(start=start, events=[], observations=[], flows=[
        flow(orig_h="10.0.0.5", resp_h=f"23.{1 + i // 200}.{i % 200}.7", service="ssl", ts=start, uid=f"C{i}",
             orig_l2_addr="00:1b:1b:00:00:05", resp_l2_addr="00:1b:1b:00:00:fe", resp_p=443) for i in range(n)])


def test_a_rule_meeting_many_distinct_pairs_raises_the_budget(client):
    app = client.app
    ch = app.state.clickhouse
    tenant_id, _, token = tenant(app, "exposed")
    assert post_batch(client, token, wire.encode(public_peers(ADDRESSES, START))).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert {kind: len(rows) for kind, rows in alerts.items()} == {"new_device": 2, "internet_exposure": BUDGET,
                                                                  "new_flood": 1}
    assert flood_of(alerts) == (ADDRESSES - BUDGET, {"budget": "100", "internet_exposure": str(ADDRESSES)})


def flood_beside_an_ordinary_batch(app, name: str) -> tuple[int, list, list]:
    """A flood and another tenant's ordinary batch stored in one group (what group commit calls with
    batches that arrived together); the flooded tenant, and the other tenant's stored detection
    beside that of a third tenant that got the ordinary batch alone."""
    ch, ingestor = app.state.clickhouse, app.state.ingestor
    flooded, flooded_sensor, _ = tenant(app, name)
    beside, beside_sensor, _ = tenant(app, f"{name}-beside")
    alone, alone_sensor, _ = tenant(app, f"{name}-alone")
    ordinary = make_batch(start=START)
    assert ingestor.ingest(alone, alone_sensor, wire.encode(ordinary)).status == "stored"
    group = [_Pending(flooded, flooded_sensor, wire.decode(wire.encode(crafted(ADDRESSES, START)))),
             _Pending(beside, beside_sensor, wire.decode(wire.encode(ordinary)))]
    ingestor._store(group)
    assert [p.status for p in group] == ["stored", "stored"]
    return flooded, stored(ch, beside, [beside_sensor]), stored(ch, alone, [alone_sensor])


def test_a_flood_in_a_group_leaves_the_other_tenant_s_batch_as_it_is_alone(client):
    ch = client.app.state.clickhouse
    flooded, beside, alone = flood_beside_an_ordinary_batch(client.app, "flooded-grouped")
    assert beside == alone and not any(row["kind"] == "new_flood" for row in beside[0]) and beside[0]
    assert {kind: len(rows) for kind, rows in alerts_of(ch, flooded).items()} == RAISED


def test_the_site_check_of_many_addresses_at_once_says_what_one_by_one_says():
    """``Site.places`` and ``Site.site_addresses`` (IPv4 in numpy, so a flood of site addresses costs
    no Python per address) against ``is_site``/``is_public``, on random and edge addresses."""
    rng = random.Random(7)
    ips = {str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(5000)}
    ips |= {f"{rng.choice([10, 127, 224, 239, 0, 169, 172, 192, 100])}.{rng.randrange(256)}.{rng.randrange(256)}."
            f"{rng.choice([0, 1, 255, rng.randrange(256)])}" for _ in range(5000)}
    ips |= {str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(200)}
    ips = sorted(ips) + ["", "0.0.0.0", "255.255.255.255", "::ffff:10.0.0.255", "fe80::1", "fd00::7"]
    # strings no address reader takes (ingest checks every address first; the check must not rely on
    # it), alone (all digits and dots: '10.1.2' and '1.2.3.4.5' split into eight parts, two quads
    # misaligned) and among the others
    odd = ["10.0.0.01", "10.0.0.256", "10.1.2", "1.2.3.4.5", "010.0.0.1", "10.0.0.1"]
    ips += odd + ["10..0.1", "10.0.0.1 ", "10.0.0.1\n", "10.0.0.+1", "10.0.0.0x1", "١٠.0.0.1", "plc"]
    for addresses, here_at_least in ((odd, 1), (ips, 400)):
        for site in (Site(1), Site(2, parse_networks("10.0.0.0/8,192.168.1.0/24,23.0.0.0/8,fc00::/7")),
                     Site(3, parse_networks("0.0.0.0/0"))):
            placed = site.places(addresses)
            assert [placed[ip] for ip in addresses] == [(site.is_site(ip), site.is_public(ip)) for ip in addresses]
            assert site.site_addresses(addresses) == [ip for ip in addresses if site.is_site(ip)]
            assert sum(here for here, _ in placed.values()) >= here_at_least


def with_s7_workstation(batch: wire.Batch, start: datetime) -> wire.Batch:
    """``batch`` plus one real new S7 workstation's flow to the PLC, after the flood's flows."""
    extra = wire.table_from_rows("flows", [flow(
        orig_h="192.168.7.7", resp_h="10.0.0.2", service="s7comm", ts=start, uid=f"CS7{start:%H%M}", resp_p=102,
        orig_l2_addr="00:0e:8c:77:77:77", resp_l2_addr="00:1b:1b:00:00:02")])
    flows = batch.tables["flows"]
    batch.tables["flows"] = pa.concat_tables([flows, extra.select(flows.schema.names).cast(flows.schema)])
    return batch


def test_a_steady_flood_hides_no_real_new_device_or_link_for_good(client):
    """The same flood every minute with a real new S7 workstation behind it: each minute the keys whose
    alert is open are no news, so the budget reaches the next ones — the workstation's link by the
    third minute, its MAC by the sixth (a batch's keys come in the order of its rows: the workstation's
    flow is the last), and then the flood stops growing."""
    app = client.app
    ch = app.state.clickhouse
    tenant_id, _, token = tenant(app, "steady-flood")
    naming, floods = [], []
    for minute in range(7):
        start = START + timedelta(minutes=minute)
        body = wire.encode(with_s7_workstation(crafted(ADDRESSES, start), start))
        assert post_batch(client, token, body).status_code == 200
        alerts = alerts_of(ch, tenant_id)
        naming.append(sorted(r["kind"] for rows in alerts.values() for r in rows if r["src_ip"] == "192.168.7.7"))
        floods.append(flood_of(alerts)[0])
    # links: 251 news, then 151, then 51 (within the budget); device keys: 504, 404, … 104, 4, the
    # workstation's MAC the last of them
    assert naming == [[], [], ["new_link"], ["new_link"], ["new_link"], ["new_device", "new_link"],
                      ["new_device", "new_link"]]
    assert len(alerts["new_link"]) == ADDRESSES + 1 and len(alerts["new_device"]) == ADDRESSES + 2
    assert floods == [404 + 151, 555 + 304 + 51, 910 + 204, 1114 + 104, 1218 + 4, 1222, 1222]


def test_another_worker_s_learning_is_no_flood(client):
    """Two workers (two Detectors on one store): worker 2 cached the tenant's baseline before worker 1
    learned 82 device keys; a batch showing those and 60 more keys is no flood once worker 2 asks the
    store about its suspected news, and learns what one worker alone learns."""
    app = client.app
    ch, first = app.state.clickhouse, app.state.detector
    second = Detector(ch, app.state.controlplane, BUDGET)
    results = []
    for name, workers in (("two-workers", (second, first, second)), ("one-worker", (first, first, first))):
        tenant_id, sensor_id, _ = tenant(app, name, learning_hours=1e6)
        for worker, batch in zip(workers, (make_batch(start=START), crafted(40, START + timedelta(minutes=1)),
                                           crafted(70, START + timedelta(minutes=2)))):
            raised = worker.detect(tenant_id, sensor_id, wire.decode(wire.encode(batch)))
        results.append((sorted(r["kind"] for r in raised), baseline_of(ch, tenant_id)))
    assert results[0] == results[1] == ([], {"device": 144, "link": 71, "function": 1, "attribute": 1})


def test_a_failing_flood_check_loses_only_its_own_batch_s_alerts(client, monkeypatch, caplog):
    """The look-up before a flood is believed fails for one tenant's batch of a group: that batch gets
    no alerts (logged), the other tenant's batch gets what it gets alone."""
    app = client.app

    def failing(self, tenant_id, keys):  # asked only for a batch that seems to flood
        raise RuntimeError("the store timed out")

    monkeypatch.setattr(Baseline, "confirm", failing)
    flooded, beside, alone = flood_beside_an_ordinary_batch(app, "check-fails")
    assert beside == alone and beside[0]
    assert alerts_of(app.state.clickhouse, flooded) == {} and "the budget of batch" in caplog.text
