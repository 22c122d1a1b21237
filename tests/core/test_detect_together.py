"""Detection works out a group's batches together (``observe.sightings``, ``indicators.matches``: one
Arrow pass over the joined tables): each batch must get exactly what it gets alone — the same
sightings in the same order with the same findings, the same indicator matches against its own
tenant's lists — whatever else is in its group. The corpus captures (every protocol the sensor
decodes), in groups of 25 whose batches alternate between two tenants' sites and lists.
"""

from __future__ import annotations

import pytest

from core.detect.indicators import matches
from core.detect.observe import sightings
from core.detect.site import Site, parse_networks
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

GROUP = 25
SITES = (Site(1), Site(2, parse_networks("10.0.0.0/8,192.168.1.0/24")))


@pytest.fixture(scope="module")
def batches(corpus):
    """One-minute batches of every corpus capture under 300 kB (217 captures, ~770 batches)."""
    captures = sorted(p for p in corpus.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")
                      and p.stat().st_size < 300_000)
    return [batch for path in captures for batch in iter_batches([path], 60.0, observer=Observer())]


def groups(batches):
    for start in range(0, len(batches), GROUP):
        yield [(batches[i], i % 2) for i in range(start, min(start + GROUP, len(batches)))]


def shown(seen) -> list[tuple]:
    return [(s.kind, s.key, s.value, s.finding) for s in seen]


def test_a_group_s_sightings_are_each_batch_s_alone(batches):
    kinds, n = set(), 0
    for group in groups(batches):
        together = sightings([b for b, _ in group], [SITES[t] for _, t in group])
        for (batch, tenant), seen in zip(group, together):
            alone = sightings([batch], [SITES[tenant]])[0]
            assert shown(seen) == shown(alone), batch.batch_id
            kinds |= {s.kind for s in seen}
            n += len(seen)
    assert kinds == {"device", "link", "function", "attribute"} and n > 3000, (kinds, n)


def lists_from(batches) -> tuple[dict, dict]:
    """Two tenants' indicator lists naming what the captures show, each half of it: addresses,
    parent domains of the names asked for, fingerprints."""
    listed = set()
    for batch in batches:
        listed |= {("ip", ip) for ip in batch.tables["flows"]["resp_h"].to_pylist() if ip}
        for attrs in batch.tables["events"]["attrs"].to_pylist():
            for name, value in attrs:
                if name in ("qname", "server_name", "host") and value.count(".") >= 1:
                    listed.add(("domain", value.lower().rstrip(".").split(".", 1)[-1]))
                elif name in ("ja3", "ja4", "hassh", "hassh_server"):
                    listed.add(({"hassh_server": "hassh"}.get(name, name), value.lower()))
    ordered = sorted(listed)
    return ({entry: "first" for entry in ordered[0::2]}, {entry: "" for entry in ordered[1::2]})


def test_a_group_s_indicator_matches_are_each_batch_s_alone_against_its_own_lists(batches):
    lists = lists_from(batches)
    found = {0: set(), 1: set()}
    for group in groups(batches):
        together = matches([b for b, _ in group], [lists[t] for _, t in group])
        for (batch, tenant), matched in zip(group, together):
            assert matched == matches([batch], [lists[tenant]])[0], batch.batch_id
            assert all(dict(f.details)["indicator"] and (dict(f.details)["indicator_type"],
                       dict(f.details)["indicator"]) in lists[tenant] for f in matched)
            found[tenant] |= {dict(f.details)["indicator_type"] for f in matched}
    assert found[0] >= {"ip", "domain"} and found[1] >= {"ip", "domain"}, found
    # a tenant without lists matches nothing, beside one with them
    group = [b for b, _ in next(groups(batches))]
    assert matches(group, [{}] * len(group)) == [[]] * len(group)


def test_a_batch_s_groups_come_in_the_order_of_their_rows(batches):
    """Which group of a repeated key stands and which uids are an alert's evidence follow the batch's
    rows, not Arrow's hash order of groups (which the other batches' keys in a group would change):
    each link's uid is its group's first flow, so in a batch the links' uids come in the flows' order."""
    checked = 0
    for group in groups(batches):
        for (batch, _), seen in zip(group, sightings([b for b, _ in group], [SITES[t] for _, t in group])):
            row = {}
            for i, uid in enumerate(batch.tables["flows"]["uid"].to_pylist()):
                row.setdefault(uid, i)
            firsts = [row[s.uid] for s in seen if s.kind == "link"]
            assert firsts == sorted(firsts), batch.batch_id
            checked += len(firsts) > 1
    assert checked > 30, checked
