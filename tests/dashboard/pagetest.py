"""Helpers for dashboard page tests: a tenant's batch of plant traffic, and reading a page's CSRF
token and embedded figures."""

from __future__ import annotations

import json
import re
from datetime import datetime

from coretest import T0, flow, make_batch

from sensor import wire


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def figure(html: str, chart: str) -> dict:
    return json.loads(re.search(rf'<script type="application/json" id="{chart}-data">(.*?)</script>', html).group(1))


def plant_batch(subnet: str, start: datetime = T0) -> bytes:
    """One minute from ``start`` of Modbus and HTTP among ``subnet``.1-3, and vendor/hostname facts
    for .2."""
    flows = [
        flow(f"{subnet}.1", f"{subnet}.2", "modbus", ts=start, nbytes=7000, pkts=10),
        flow(f"{subnet}.3", f"{subnet}.2", "http", ts=start, nbytes=3000, pkts=10),
    ]
    observations = [
        dict(ts=start, mac="00:1b:1b:00:00:02", ip=f"{subnet}.2", attribute=attribute, value=value,
             source="dhcp", confidence=90)
        for attribute, value in (("vendor", "Siemens"), ("hostname", f"plc-{subnet}"))
    ]
    return wire.encode(make_batch(flows, [], observations, start=start))
