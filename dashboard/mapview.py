"""What the network map page (ネットワークマップ) shows: the map of devices by zone with their links in
a window, the links between zones, and the zone editor's choices; from the core's zones and the
hourly pairs rollup."""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import escape

from core.analytics import risk
from core.analytics import zones as zoning
from core.analytics.assets import ledger
from core.analytics.kept import INGEST, LEDGER_TOTAL, PINNING, Kept, Same
from core.analytics.ledger import Asset
from core.store.clickhouse import ClickHouseStore
from dashboard import figures
from dashboard.assets import _role_label as role_label, purdue_choices
from dashboard.i18n import Translator
from dashboard.mapfigure import MapZone, Node, network_map
from dashboard.overview import window_for
from dashboard.timefmt import MINUTES, absolute, zone_name

LABEL_CHARS = 14
KEEP = "keep"  # the editor's Purdue choice that leaves each device's level as it is
# A window's links between the devices of its ledger, kept until the tenant's batches change (core.analytics.kept).
_LINKS: Kept[list[zoning.Link]] = Kept(INGEST, size=PINNING, total=LEDGER_TOTAL)


def zone_title(name: str, t: Translator) -> str:
    """A zone's name as shown: the two the core names itself in the UI's language."""
    return {zoning.EXTERNAL: t("zone_external"), zoning.L2_ONLY: t("zone_l2_only")}.get(name, name)


def _levels(levels: list[int]) -> str:
    if not levels:
        return ""
    return f"L{levels[0]}" if len(levels) == 1 else f"L{levels[0]}–{levels[-1]}"


def _node(asset: Asset, zone: str, risk: dict, t: Translator, device_path: Callable[[str], str]) -> Node:
    role = asset.role.value if asset.role else ""
    name = asset.best("hostname") or asset.ip or asset.device
    level = zoning.purdue_level(asset)
    details = [asset.ip if asset.ip != name else "", role_label(role, t) if role else t("role_unknown"),
               asset.best("vendor"), f"{t('zone')}: {zone_title(zone, t)}",
               f"{t('purdue_level')}: {t('purdue_none') if level is None else level}",
               f"{t('risk')}: {risk['risk']} ({t('risk_level_' + risk['risk_level'])})"]
    hover = f"<b>{escape(name)}</b><br>" + "<br>".join(str(escape(d)) for d in details if d)
    return Node(asset.device, name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…",
                _short(asset), hover, role, role_label(role, t), device_path(asset.device), risk["risk_level"])


def _short(asset: Asset) -> str:
    """The address's last part (``.23``, ``:1a``), enough to tell neighbours in a zone apart."""
    address = asset.ip or asset.device
    for separator in ".:":
        if separator in address:
            return separator + address.rsplit(separator, 1)[1]
    return address[-4:]


def _external(t: Translator) -> MapZone:
    node = Node(zoning.EXTERNAL, "", "", escape(t("zone_external_hint")),  # its zone's title names it
                zoning.EXTERNAL, t("zone_external"), None)
    return MapZone(zoning.EXTERNAL, t("zone_external"), [node], zoning.EXTERNAL)


def _between_rows(links: list[zoning.Link], t: Translator) -> list[dict]:
    """Zone pairs, the heaviest first, each with its services by bytes."""
    pairs: dict[tuple[str, str], dict] = {}
    for link in links:
        row = pairs.setdefault((link.source, link.target), {
            "source": zone_title(link.source, t), "target": zone_title(link.target, t),
            "services": [], "bytes": 0, "devices": set()})
        row["services"].append((link.service, link.bytes))
        row["bytes"] += link.bytes
        row["devices"] |= link.devices
    return sorted(({**row, "devices": len(row["devices"])} for row in pairs.values()),
                  key=lambda row: (-row["bytes"], row["source"], row["target"]))


def map_context(ch: ClickHouseStore, tenant: int, range_key: str, t: Translator,
                device_path: Callable[[str], str]) -> dict:
    window = window_for(ch, tenant, range_key)
    assets = ledger(ch, tenant, start=window.start, end=window.end)
    zones = zoning.zones(ch, tenant, assets)
    links = _LINKS.get(ch, tenant, (Same(assets), window.start, window.end), lambda: zoning.device_links(
        assets, zoning.pair_traffic(ch, tenant, window.start, window.end)))
    zone_of = zoning.device_zones(ch, tenant, assets)
    risks = risk.scored(ch, tenant, assets)
    drawn = [MapZone(z.name, " · ".join(filter(None, (zone_title(z.name, t), _levels(z.purdue_levels)))),
                     [_node(a, z.name, risks[a.device], t, device_path) for a in z.devices],
                     _levels(z.purdue_levels[-1:]))
             for z in zones]
    if any(zoning.EXTERNAL in (link.source, link.target) for link in links):
        drawn.insert(0, _external(t))
    return {
        "window": {"range": range_key, "start": absolute(window.start, MINUTES), "end": absolute(window.end, MINUTES)},
        "tz_name": zone_name(),
        "figure": figures.embed(network_map(drawn, links, t)),
        "device_count": len(assets),
        "zone_count": len(zones),
        "between": _between_rows(zoning.zone_links(zone_of, links), t),
        "editor": {
            "zones": [(z.name, zone_title(z.name, t), [(a.device, _option(a, t)) for a in z.devices]) for z in zones],
            "names": sorted({z.name for z in zones if z.name != zoning.L2_ONLY}),
            "purdue": [(KEEP, t("purdue_keep"))] + purdue_choices(t),
        },
    }


def _option(asset: Asset, t: Translator) -> str:
    """A device in the editor's list: address, name and role."""
    role = role_label(asset.role.value, t) if asset.role else ""
    return " · ".join(filter(None, (asset.ip or asset.device, asset.best("hostname"), role)))
