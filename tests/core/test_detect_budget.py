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

import pytest
from coretest import flow, make_batch, post_batch, provision
from test_detect_groups import stored

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

    # the next minute shows the same addresses: everything folds, nothing is raised anew
    later = crafted(ADDRESSES, START + timedelta(minutes=1))
    assert post_batch(client, token, wire.encode(later)).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert {kind: len(rows) for kind, rows in alerts.items()} == RAISED
    assert flood_of(alerts) == (2 * count, details)
    assert {r["count"] for r in alerts["new_link"]} == {2}

    # then a rule meets as many distinct pairs: the sensor's one flood alert takes that sort in too
    body = wire.encode(public_peers(ADDRESSES, START + timedelta(minutes=2)))
    assert post_batch(client, token, body).status_code == 200
    alerts = alerts_of(ch, tenant_id)
    assert len(alerts["internet_exposure"]) == BUDGET
    assert flood_of(alerts) == (2 * count + ADDRESSES - BUDGET, details | {"internet_exposure": str(ADDRESSES)})


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


def test_a_flood_in_a_group_leaves_the_other_tenant_s_batch_as_it_is_alone(client):
    app = client.app
    ch, ingestor = app.state.clickhouse, app.state.ingestor
    flooded, flooded_sensor, _ = tenant(app, "flooded-grouped")
    beside, beside_sensor, _ = tenant(app, "beside")
    alone, alone_sensor, _ = tenant(app, "alone")
    ordinary = make_batch(start=START)
    assert ingestor.ingest(alone, alone_sensor, wire.encode(ordinary)).status == "stored"
    group = [_Pending(flooded, flooded_sensor, wire.decode(wire.encode(crafted(ADDRESSES, START)))),
             _Pending(beside, beside_sensor, wire.decode(wire.encode(ordinary)))]
    ingestor._store(group)  # what group commit calls with batches that arrived together
    assert [p.status for p in group] == ["stored", "stored"]
    assert stored(ch, beside, [beside_sensor]) == stored(ch, alone, [alone_sensor])
    assert "new_flood" not in alerts_of(ch, beside) and alerts_of(ch, beside)
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
    for site in (Site(1), Site(2, parse_networks("10.0.0.0/8,192.168.1.0/24,23.0.0.0/8,fc00::/7")),
                 Site(3, parse_networks("0.0.0.0/0"))):
        placed = site.places(ips)
        assert [placed[ip] for ip in ips] == [(site.is_site(ip), site.is_public(ip)) for ip in ips]
        assert site.site_addresses(ips) == [ip for ip in ips if site.is_site(ip)]
        assert sum(here for here, _ in placed.values()) > 400
