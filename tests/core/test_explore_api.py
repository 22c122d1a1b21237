"""The explorer's API (GET /api/v1/explore/flows|events) on a simulated plant through the real
ingest: each filter narrows to exactly the rows it names, keyset pages cover the result once in the
sort's order, bad filters get a 422 with the reason, and a tenant sees only its own records."""

from __future__ import annotations

from datetime import datetime

import json

import pytest
from coretest import bearer, provision

from core.analytics import explore
from core.analytics.window import Window
from core.detect.danger import danger
from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import EPOCH, write_pcap

WINDOW = {"start": "2026-01-04T23:00:00Z", "end": "2026-01-05T01:00:00Z"}


@pytest.fixture(scope="module")
def plant(client, tmp_path_factory):
    """acme with 40,000 simulated packets (about 2 minutes, risky events included), globex with another
    plant; every record of acme's as the API lists it."""
    tenants = provision(client.app, "acme"), provision(client.app, "globex")
    for seed, tenant in enumerate(tenants, start=1):
        pcap = tmp_path_factory.mktemp("pcap") / f"{tenant.name}.pcap"
        write_pcap(pcap, packets=40_000 if seed == 1 else 4000, seed=seed, start=EPOCH)
        for batch in iter_batches([pcap], 60.0, sensor=f"SN-{tenant.name}", observer=Observer()):
            assert client.app.state.ingestor.ingest(tenant.id, tenant.sensor_id,
                                                    wire.encode(batch)).status == "stored"
    acme = tenants[0]
    return tenants, {kind: every(client, acme, kind) for kind in ("flows", "events")}


def get(client, tenant, kind: str, **query):
    return client.get(f"/api/v1/explore/{kind}", params=WINDOW | query, headers=bearer(tenant.api_token))


def every(client, tenant, kind: str, **query) -> list[dict]:
    """All rows of a result, page by page."""
    rows, cursor = [], None
    while True:
        answer = get(client, tenant, kind, limit=500, **query, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows += body["rows"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert len(rows) == body["count"]
            return rows


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def key(row: dict) -> str:
    """The whole record: a flow's closing record shares its ts and uid with the interval's record."""
    return json.dumps(row, sort_keys=True)


def test_the_plant_has_records_of_both_kinds(plant):
    _, rows = plant
    assert len(rows["flows"]) > 200 and len(rows["events"]) > 100
    assert len({key(r) for r in rows["flows"]}) == len(rows["flows"])


FLOW_FILTERS = {
    "protocol": lambda r, v: r["proto"] == v or v in r["service"].split(","),
    "status": lambda r, v: r["conn_state"] == v,
    "source": lambda r, v: v in (r["orig_h"], r["orig_l2_addr"]),
    "destination": lambda r, v: v in (r["resp_h"], r["resp_l2_addr"]),
    "device": lambda r, v: v in (r["orig_h"], r["orig_l2_addr"], r["resp_h"], r["resp_l2_addr"]),
    "port": lambda r, v: v in (r["orig_p"], r["resp_p"]),
}
FLOW_VALUES = {"protocol": lambda r: r["service"].split(",")[0] or r["proto"], "status": lambda r: r["conn_state"],
               "source": lambda r: r["orig_h"], "destination": lambda r: r["resp_l2_addr"],
               "device": lambda r: r["resp_h"], "port": lambda r: r["resp_p"]}
EVENT_FILTERS = {
    "protocol": lambda r, v: r["protocol"] == v,
    "action": lambda r, v: r["action"] == v,
    "status": lambda r, v: r["status"] == v,
    "source": lambda r, v: r["orig_h"] == v,
    "destination": lambda r, v: r["resp_h"] == v,
    "device": lambda r, v: v in (r["orig_h"], r["resp_h"]),
    "port": lambda r, v: r["resp_p"] == v,
}


def _value_that_narrows(rows, pick, test):
    """A value of the filter found in the rows that keeps some rows but not all."""
    for row in rows:
        value = pick(row)
        kept = [r for r in rows if test(r, value)]
        if value not in ("", None) and 0 < len(kept) < len(rows):
            return value, kept
    raise AssertionError("no value narrows")


@pytest.mark.parametrize("name", sorted(FLOW_FILTERS))
def test_each_flow_filter_keeps_exactly_the_matching_rows(client, plant, name):
    (acme, _), rows = plant
    value, kept = _value_that_narrows(rows["flows"], FLOW_VALUES[name], FLOW_FILTERS[name])
    found = every(client, acme, "flows", **{name: value})
    assert sorted(map(key, found)) == sorted(map(key, kept))


@pytest.mark.parametrize("name", sorted(EVENT_FILTERS))
def test_each_event_filter_keeps_exactly_the_matching_rows(client, plant, name):
    (acme, _), rows = plant
    pick = {"device": lambda r: r["resp_h"]}.get(name, lambda r: r[{"source": "orig_h", "destination": "resp_h",
                                                                      "port": "resp_p"}.get(name, name)])
    value, kept = _value_that_narrows(rows["events"], pick, EVENT_FILTERS[name])
    found = every(client, acme, "events", **{name: value})
    assert sorted(map(key, found)) == sorted(map(key, kept))


def test_attribute_sensor_uid_and_time_filters(client, plant):
    (acme, _), rows = plant
    events = rows["events"]
    name, value = next((k, v) for r in events for k, v in r["attrs"].items()
                       if 0 < sum(r2["attrs"].get(k) == v for r2 in events) < len(events))
    found = every(client, acme, "events", attr=f"{name}={value}")
    assert sorted(map(key, found)) == sorted(key(r) for r in events if r["attrs"].get(name) == value)
    assert every(client, acme, "flows", sensor=acme.sensor_id + 999) == []
    uids = sorted({r["uid"] for r in rows["flows"]})[:3]
    found = every(client, acme, "flows", uid=uids)
    assert sorted(map(key, found)) == sorted(key(r) for r in rows["flows"] if r["uid"] in uids)
    middle = sorted(r["ts"] for r in rows["flows"])[len(rows["flows"]) // 2]
    later = get(client, acme, "flows", start=middle, limit=500).json()
    assert 0 < later["count"] < len(rows["flows"])
    assert later["count"] == sum(r["ts"] >= middle for r in rows["flows"])


@pytest.mark.parametrize("sort", ["-ts", "ts", "resp_h", "-orig_bytes", "service", "-duration"])
def test_pages_cover_the_result_once_in_order(client, plant, sort):
    (acme, _), rows = plant
    pages, cursor = [], None
    while True:
        body = get(client, acme, "flows", sort=sort, limit=97, **({"cursor": cursor} if cursor else {})).json()
        pages += body["rows"]
        if not (cursor := body["next_cursor"]):
            break
    assert len(pages) == len(rows["flows"]) == len({key(r) for r in pages})
    column, descending = sort.removeprefix("-"), sort.startswith("-")
    order = [(at(r[column]) if column == "ts" else r[column], at(r["ts"]), r["uid"], r["sensor_id"]) for r in pages]
    assert order == sorted(order, reverse=descending)  # the row hash orders what these leave tied


@pytest.mark.parametrize("sort", ["-ts", "ts"])
@pytest.mark.parametrize("limit", [1, 97, 5000])
def test_a_first_page_in_time_order_reads_only_the_buckets_that_hold_it(client, plant, sort, limit):
    """With the result's timeline, the first page sorted by time is read from the newest (oldest) buckets
    that hold it only, and is the page read over the whole window — narrowed or not (a limit past the result)."""
    (acme, _), _ = plant
    ch = client.app.state.clickhouse
    window = Window(at(WINDOW["start"]), at(WINDOW["end"]))
    for query in ({}, {"protocol": "modbus"}):
        filters, order = explore.parse_filters(window, query), explore.sort_of(explore.FLOWS, sort)
        timeline = explore.timeline(ch, explore.FLOWS, acme.id, filters)
        narrowed = explore._first_buckets(window, order.descending, *timeline, limit + 1)
        if limit >= explore.count(timeline[1]):
            assert narrowed == window
        elif limit == 1 and not query:  # the plant's flows fill several buckets: the first holds the page
            assert narrowed != window
        assert explore.page(ch, explore.FLOWS, acme.id, filters, order, limit, timeline=timeline) == explore.page(
            ch, explore.FLOWS, acme.id, filters, order, limit)


def test_the_timeline_counts_the_filtered_result(client, plant):
    (acme, _), rows = plant
    body = get(client, acme, "events", protocol="modbus", limit=1).json()
    assert body["bucket_seconds"] == 60  # a two-hour window: minutes
    assert sum(b["n"] for b in body["timeline"]) == body["count"] == sum(r["protocol"] == "modbus"
                                                                        for r in rows["events"])


def test_dangerous_actions_are_marked(plant):
    _, rows = plant
    marked = [r for r in rows["events"] if r["danger"]]
    assert {"write", "plc_stop"} <= {r["danger"] for r in marked}
    assert all(r["danger"] == danger(r["protocol"], r["action"], r["attrs"]) for r in rows["events"])
    assert not any(r["danger"] for r in rows["events"] if r["action"].upper().startswith("READ"))


@pytest.mark.parametrize("query", [{"port": "70000"}, {"sort": "bogus"}, {"sort": "-attrs"},
                                   {"cursor": "not-a-cursor"}, {"attr": "no-equals"}, {"sensor": "-1"},
                                   {"limit": "501"}, {"device": "x" * 201}])
def test_bad_filters_get_422_with_a_reason(client, plant, query):
    (acme, _), _ = plant
    answer = get(client, acme, "events", **query)
    assert answer.status_code == 422 and answer.json()["detail"]


def test_a_cursor_of_another_sort_is_refused(client, plant):
    (acme, _), _ = plant
    cursor = get(client, acme, "flows", sort="-ts", limit=5).json()["next_cursor"]
    assert get(client, acme, "flows", sort="resp_p", cursor=cursor).status_code == 422


def test_a_tenant_sees_only_its_own_records(client, plant):
    (acme, globex), rows = plant
    theirs = every(client, globex, "flows")
    assert theirs and not {key(r) for r in theirs} & {key(r) for r in rows["flows"]}
    uids = [r["uid"] for r in rows["flows"][:5]]
    assert get(client, globex, "flows", uid=uids).json()["count"] == 0
    assert client.get("/api/v1/explore/flows", params=WINDOW).status_code == 401



def raw_page(ch, *args) -> explore.Page:
    """A page as the whole window's sort reads it (no bound from the sort column's top)."""
    bound = explore._bound
    explore._bound = lambda *_: ""
    try:
        return explore.page(ch, *args)
    finally:
        explore._bound = bound


@pytest.mark.one_pass  # (ClickHouse's reads alone: ~55 s)
@pytest.mark.parametrize("kind", ["flows", "events"])
def test_a_page_by_any_column_is_the_whole_windows_sort(client, plant, kind):
    """Every column but time, both ways, over two windows, with and without filters, a page of one row,
    a short page, one past the result, and the page after each: the page read within its sort column's
    bound (a first page with its timeline: the bound of its first buckets) has the rows, the order and the
    cursor of the whole window's sort."""
    (acme, _), rows = plant
    ch, table = client.app.state.clickhouse, explore.KINDS[kind]
    whole = Window(at(WINDOW["start"]), at(WINDOW["end"]))
    middle = sorted(at(r["ts"]) for r in rows[kind])[len(rows[kind]) // 2]
    device = rows[kind][0]["resp_h"]
    searches = [(whole, {}), (whole, {"device": device}), (Window(whole.start, middle), {}),
                (whole, {"protocol": "modbus", "source": rows[kind][-1]["orig_h"]})]
    for window, query in searches:
        filters = explore.parse_filters(window, query)
        for column in (c for c in table.columns if c != "ts"):
            for sort, limit in ((explore.Sort(column, d), n) for d in (True, False) for n in (1, 37, 5000)):
                case = (window, query, sort, limit)
                page = explore.page(ch, table, acme.id, filters, sort, limit)
                assert page == raw_page(ch, table, acme.id, filters, sort, limit), case
                if limit < len(rows[kind]):  # a page longer than the result reads no bound
                    assert explore.search(ch, table, acme.id, filters, sort, limit).page == page, case
                if page.next_cursor:
                    after = explore.page(ch, table, acme.id, filters, sort, limit, page.next_cursor)
                    assert after == raw_page(ch, table, acme.id, filters, sort, limit, page.next_cursor), case
