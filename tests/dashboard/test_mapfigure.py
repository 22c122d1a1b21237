"""The network map's layout and figure on constructed zones: deterministic, boxes apart, a shelf per
tier, links as wide as their traffic, risk rings, and device names escaped in hover text."""

from __future__ import annotations

from datetime import UTC, datetime

from core.analytics.ledger import Asset, Attribute
from core.analytics.roles import Role
from core.analytics.zones import Link
from dashboard.i18n import translator
from dashboard.mapfigure import RISK_RINGS, MapZone, Node, network_map
from dashboard.maplayout import ZONE_CELLS, layout
from dashboard.mapview import _node

T = translator("en")
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _zones(sizes: list[int], tiers: list[object]) -> list[tuple[str, list[str], object]]:
    return [(f"z{i}", [f"z{i}-d{n}" for n in range(size)], tier) for i, (size, tier) in enumerate(zip(sizes, tiers))]


def test_layout_is_deterministic_and_boxes_do_not_overlap():
    zones = _zones([1, 5, 30, 12, 2, 40], ["L3", "L2", "L2", "L1", "L1", None])
    first, again = layout(zones), layout(zones)
    assert first == again
    assert len(set(first.positions.values())) == sum(len(devices) for _, devices, _ in zones)
    for box, (_, devices, _) in zip(first.boxes, zones, strict=True):
        assert box.x1 - box.x0 <= ZONE_CELLS
        for device in devices:  # every device inside its own zone's box
            x, y = first.positions[device]
            assert box.x0 < x < box.x1 and box.y0 < y < box.y1
    for a in first.boxes:
        for b in first.boxes:
            if a is not b:
                assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, (a, b)
    tops = {box.zone: box.y0 for box in first.boxes}
    assert tops["z0"] < tops["z1"] == tops["z2"] < tops["z3"] == tops["z4"] < tops["z5"]  # a shelf per tier


def _node_of(key: str, risk: str = "") -> Node:
    return Node(key, key, key, key, "plc", "PLC", f"/assets/{key}", risk)


def test_links_are_as_wide_as_their_traffic_and_risky_devices_ringed():
    zones = [MapZone("a", "a", [_node_of("p1", "high"), _node_of("p2")], None),
             MapZone("b", "b", [_node_of("h1", "medium")], None)]
    links = [Link("h1", "p1", "modbus", bytes=10), Link("h1", "p2", "modbus", bytes=10_000_000),
             Link("p1", "p2", "s7comm", bytes=1000), Link("p1", "elsewhere", "dns", bytes=5)]
    fig = network_map(zones, links, T)
    lines = {(t.name, t.line.width) for t in fig.data if t.mode == "lines"}
    # 10 B, 1 kB, 10 MB: 1, 3 and 7 px (by the logarithm); a link to no drawn device is left out
    assert lines == {("modbus", 1.0), ("modbus", 7.0), ("s7comm", 3.0)}
    dots = next(t for t in fig.data if t.mode == "markers+text")
    rings = dict(zip(dots.customdata, dots.marker.line.color, strict=True))
    assert rings == {"/assets/p1": RISK_RINGS["high"][0], "/assets/p2": "#ffffff", "/assets/h1": RISK_RINGS["medium"][0]}
    assert [t.name for t in fig.data if t.mode == "markers" and t.showlegend is not False] == [
        "Risk: High", "Risk: Medium"]  # legend entries for the rings shown
    assert network_map([], links, T) is None


def test_hover_escapes_what_devices_say_about_themselves():
    hostile = "<a href='javascript:alert(1)'>plc</a>"
    asset = Asset("00:1b:1b:00:00:02", "00:1b:1b:00:00:02", {"10.0.0.2"},
                  {"hostname": [Attribute(hostile, "dhcp", 90, NOW, NOW)]}, role=Role("plc", "behaviour", 80))
    node = _node(asset, "10.0.0.0/24", {"risk": 12, "risk_level": "low"}, T, lambda key: f"/assets/{key}")
    assert "<a " not in node.hover and "&lt;a href=" in node.hover
    assert node.path == "/assets/00:1b:1b:00:00:02" and node.short == ".2"
