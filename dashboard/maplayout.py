"""Where the network map draws each device: every zone a box, boxes packed left to right in shelves
(a new shelf when the next box does not fit or its tier changes), devices on a grid inside their
zone's box. The same zones in the same order always give the same picture.

Units are grid cells: a device every 1.0 across and down; y grows downwards (the figure reverses
its axis), so the first zones (highest Purdue level) are at the top as the model is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROW_CELLS = 26  # cells across the whole map
ZONE_CELLS = 12  # at most this many devices across one zone
MIN_ZONE_CELLS = 3  # room for the zone's name
LABEL_ROW = 0.9  # the zone's name above its first row of devices
GAP = 1.0  # between boxes, across and down


@dataclass(frozen=True)
class Box:
    """A zone's rectangle (cell coordinates) and where its name goes (top left inside it)."""

    zone: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Layout:
    positions: dict[str, tuple[float, float]]  # device key → centre
    boxes: list[Box]
    width: float  # extent in cells (x from -0.5, y from -0.5)
    height: float


def layout(zones: list[tuple[str, list[str], object]]) -> Layout:
    """``zones``: (name, device keys in drawing order, tier) in drawing order; a shelf holds one
    tier only (e.g. one Purdue level)."""
    positions: dict[str, tuple[float, float]] = {}
    boxes: list[Box] = []
    x = y = shelf_height = 0.0
    tier: object = None
    for name, devices, zone_tier in zones:
        columns = max(MIN_ZONE_CELLS, min(len(devices), ZONE_CELLS))
        rows = max(1, math.ceil(len(devices) / columns))
        if boxes and (x + columns > ROW_CELLS or zone_tier != tier):
            x, y, shelf_height = 0.0, y + shelf_height + GAP, 0.0
        tier = zone_tier
        for i, device in enumerate(devices):
            positions[device] = (x + i % columns, y + LABEL_ROW + i // columns)
        boxes.append(Box(name, x - 0.5, y - 0.5, x + columns - 0.5, y + LABEL_ROW + rows - 0.5))
        x += columns + GAP
        shelf_height = max(shelf_height, LABEL_ROW + rows)
    width = max((box.x1 for box in boxes), default=0.0) + 0.5
    return Layout(positions, boxes, width, y + shelf_height)
