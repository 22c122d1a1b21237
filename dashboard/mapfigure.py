"""The network map as a plotly figure: zones as boxes (``dashboard.maplayout``), devices as dots
coloured by role, links as lines coloured by service and as wide as their traffic is heavy.

A device's dot carries its page's path as ``customdata``; dashboard.js opens it on a click. The
traces and layout are plain dicts, not validated by plotly (``dashboard.figures.figure``), and the
links' curves are computed as arrays: a map of 300 devices has thousands of links.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.analytics.zones import Link
from dashboard.figures import FONT, PALETTE
from dashboard.i18n import Translator
from dashboard.maplayout import Layout, layout
from dashboard.render import human_bytes

# Dot colours, near the role badges' text colours; unknown roles light grey.
ROLE_COLOURS = {"plc": "#1849a9", "hmi": "#0b6b5d", "engineering_workstation": "#5b2bb5", "camera": "#c26a00",
                "nvr": "#9e1c5c", "server": "#475467", "router": "#1d2939", "switch": "#1d2939", "iot": "#4d7c0f",
                "io_device": "#3b6e8f"}
OTHER_COLOUR = "#c0c7d0"
# A device's risk level as a ring around its dot (low: none).
RISK_RINGS = {"high": ("#d92d20", 3.5), "medium": ("#f79009", 2.5)}
NO_RING = ("#ffffff", 1.5)
MAX_SERVICES = len(PALETTE)  # the busiest services get a colour each, the rest are "other"
MAX_WIDTH = 7.0  # px, the heaviest link
CELL_PX = 62  # height of a grid row
FULL_LABELS = 60  # up to this many devices each dot is labelled in full, beyond it shortly
CURVE_POINTS = 9  # odd: the middle one is where a link's hover sits
BEND, MAX_BEND = 0.25, 1.5  # a link's control point off its chord: a share of its length, at most cells


@dataclass(frozen=True)
class Node:
    key: str
    label: str  # in full (name or address) and short (the address's last part)
    short: str
    hover: str  # HTML, escaped by the caller
    role: str  # a ROLE_COLOURS key, or anything else for grey
    role_label: str
    path: str | None  # the device's page
    risk: str = ""  # its risk level: high, medium, low; empty when not scored


@dataclass(frozen=True)
class MapZone:
    name: str
    title: str  # as shown: the name, with its Purdue level(s)
    nodes: list[Node]
    tier: object  # zones of one tier share a shelf


def network_map(zones: Sequence[MapZone], links: Sequence[Link], t: Translator) -> go.Figure | None:
    nodes = [n for z in zones for n in z.nodes]
    if not nodes:
        return None
    where = layout([(z.name, [n.key for n in z.nodes], z.tier) for z in zones])
    drawn = [link for link in links if link.source in where.positions and link.target in where.positions]
    traces = [*_links(drawn, where, {n.key: n.label for n in nodes}, t),
              *_nodes(nodes, where, t, full_labels=len(nodes) <= FULL_LABELS),
              *_risk_legend({n.risk for n in nodes}, t)]
    return go.Figure({"data": traces, "layout": {
        "height": int(where.height * CELL_PX) + 120,
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "font": {"family": FONT, "size": 12, "color": "#24292f"},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": {"font": {"family": FONT}}, "hovermode": "closest", "dragmode": "pan",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font": {"size": 11}},
        **_zone_boxes(zones, where),
        "xaxis": {"visible": False, "range": [-0.7, where.width + 0.2], "fixedrange": False},
        "yaxis": {"visible": False, "range": [where.height + 0.1, -0.7]},
    }}, _validate=False)


def _zone_boxes(zones: Sequence[MapZone], where: Layout) -> dict:
    """Layout shapes (a rectangle per zone) and annotations (its title), set at once: plotly's
    add_shape and add_annotation copy the layout each time."""
    shapes, titles = [], []
    for zone, box in zip(zones, where.boxes, strict=True):
        shapes.append(dict(type="rect", x0=box.x0, y0=box.y0, x1=box.x1, y1=box.y1, layer="below",
                           line=dict(color="#d0d7de", width=1), fillcolor="rgba(246,248,250,0.9)"))
        room = max(4, int((box.x1 - box.x0) * 7))  # characters that fit the box's width
        title = zone.title if len(zone.title) <= room else zone.title[:room - 1] + "…"
        titles.append(dict(x=box.x0 + 0.1, y=box.y0 + 0.05, text=f"<b>{title}</b>", showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=11, color="#57606a"),
                           hovertext=zone.title))
    return {"shapes": shapes, "annotations": titles}


def _links(links: Sequence[Link], where: Layout, names: dict[str, str], t: Translator) -> list[dict]:
    """A trace per (service, width): plotly gives a line trace one width. Hover on each link's middle."""
    if not links:
        return []
    by_bytes: dict[str, int] = {}
    for link in links:
        by_bytes[link.service] = by_bytes.get(link.service, 0) + link.bytes
    busiest = sorted(by_bytes, key=lambda s: (-by_bytes[s], s))[:MAX_SERVICES]
    colour = {service: PALETTE[i] for i, service in enumerate(busiest)}
    other = t("map_other_services")
    widths = _widths([link.bytes for link in links])
    curves = _curves(np.array([where.positions[k.source] for k in links]),
                     np.array([where.positions[k.target] for k in links]))
    groups: dict[tuple[str, float], list[int]] = {}
    for i, (link, width) in enumerate(zip(links, widths, strict=True)):
        groups.setdefault((link.service if link.service in colour else other, width), []).append(i)
    traces, shown = [], set()
    for (service, width), members in sorted(groups.items(), key=lambda g: (g[0][0] == other, g[0][0], g[0][1])):
        # The curves one after another, a gap (NaN) between two.
        gaps = np.full((len(members), 1, 2), math.nan)
        points = np.concatenate([curves[members], gaps], axis=1).reshape(-1, 2)
        traces.append({"type": "scatter", "x": points[:, 0], "y": points[:, 1], "mode": "lines", "hoverinfo": "skip",
                       "name": service, "legendgroup": service, "showlegend": service not in shown,
                       "line": {"color": colour.get(service, OTHER_COLOUR), "width": width}, "opacity": 0.55})
        shown.add(service)
    middles = curves[:, CURVE_POINTS // 2]
    traces.append({
        "type": "scatter", "x": middles[:, 0], "y": middles[:, 1], "mode": "markers",
        "marker": {"size": 7, "opacity": 0}, "showlegend": False,
        "hovertext": [f"{names[k.source]} → {names[k.target]}<br>{k.service} · {human_bytes(k.bytes)}" for k in links],
        "hovertemplate": "%{hovertext}<extra></extra>"})
    return traces


def _curves(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Quadratic Béziers (links × CURVE_POINTS × x, y) from ``starts`` to ``ends`` (links × x, y), each
    bent to the left of its direction, so links along a row of devices stay apart and the two
    directions of a pair are two arcs."""
    delta = ends - starts
    length = np.hypot(delta[:, 0], delta[:, 1])
    bend = np.minimum(BEND * length, MAX_BEND) / np.where(length > 0, length, 1.0)
    control = (starts + ends) / 2 + np.stack([delta[:, 1], -delta[:, 0]], axis=1) * bend[:, None]
    s = (np.arange(CURVE_POINTS) / (CURVE_POINTS - 1))[None, :, None]
    return (1 - s) ** 2 * starts[:, None] + 2 * (1 - s) * s * control[:, None] + s * s * ends[:, None]


def _widths(traffic: list[int]) -> list[float]:
    """Line widths 1 … MAX_WIDTH px by the logarithm of the bytes, in whole pixels (few traces)."""
    low, high = math.log10(max(1, min(traffic))), math.log10(max(1, max(traffic)))
    span = high - low or 1.0
    return [float(round(1 + (MAX_WIDTH - 1) * (math.log10(max(1, b)) - low) / span)) for b in traffic]


def _nodes(nodes: Sequence[Node], where: Layout, t: Translator, full_labels: bool) -> list[dict]:
    """A trace per role, so the legend names the colours; hosts outside the site a diamond."""
    by_role: dict[str, list[Node]] = {}
    for node in nodes:
        by_role.setdefault(node.role if node.role in ROLE_COLOURS else "", []).append(node)
    return [{
        "type": "scatter", "x": [where.positions[n.key][0] for n in members],
        "y": [where.positions[n.key][1] for n in members],
        "mode": "markers+text", "name": members[0].role_label if role else t("map_role_other"),
        "text": [n.label if full_labels else n.short for n in members],
        "textposition": [_label_side(where.positions[n.key][0], full_labels) for n in members],
        "textfont": {"size": 10 if full_labels else 9, "color": "#57606a", "shadow": "auto"},  # a halo over links
        "marker": {"size": 14 if full_labels else 11, "color": ROLE_COLOURS.get(role, OTHER_COLOUR),
                   "symbol": ["diamond" if n.path is None else "circle" for n in members],
                   "line": {"color": [RISK_RINGS.get(n.risk, NO_RING)[0] for n in members],
                            "width": [RISK_RINGS.get(n.risk, NO_RING)[1] for n in members]}},
        "customdata": [n.path for n in members], "hovertext": [n.hover for n in members],
        "hovertemplate": "%{hovertext}<extra></extra>",
    } for role, members in sorted(by_role.items(), key=lambda r: (r[0] == "", r[0]))]


def _label_side(x: float, full_labels: bool) -> str:
    """Full labels alternate below and above the dots along a row, so neighbours' names do not meet."""
    return "top center" if full_labels and round(x) % 2 else "bottom center"


def _risk_legend(levels: set[str], t: Translator) -> list[dict]:
    """Legend entries (no points) for the rings the map shows."""
    return [{"type": "scatter", "x": [None], "y": [None], "mode": "markers",
             "name": f"{t('risk')}: {t(f'risk_level_{risk}')}",
             "marker": {"size": 12, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": width}}}
            for risk, (colour, width) in RISK_RINGS.items() if risk in levels]
