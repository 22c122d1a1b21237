"""What the asset ledger pages (資産台帳) show: the list with its filter and sort, and one
device's detail, from the core's ledger queries for one tenant."""

from __future__ import annotations

from datetime import datetime

from core.analytics import assets as ledger
from core.analytics.zones import network_zone
from core.store.clickhouse import ClickHouseStore
from dashboard import figures, reported
from dashboard.alertview import keys_by_name
from dashboard.i18n import N_, Translator
from dashboard.timefmt import MINUTES, SECONDS, absolute, zone_name

# Roles the core infers from behaviour or sensors state, in the role filter's order.
ROLES = ("plc", "hmi", "engineering_workstation", "camera", "nvr", "server", "router", "switch", "iot", "io_device")
LATEST_EVENTS = 25
ALL_HISTORY = "all"  # the ledger's default period; else one of the overview's ranges
N_("range_all")  # assets.html: "range_" ~ period
# The list's columns: key (a sort key when in ledger.SORTABLE) and heading message.
COLUMNS = (
    ("ip", "ip"), ("mac", "mac"), ("role", "role"), ("risk", "risk"), ("vendor", "vendor"), ("hostname", "hostname"),
    ("model", "model_firmware"), ("protocols", "protocol_list"), ("vlans", "vlans"),
    ("authorized", "authorization"), ("importance", "importance"), ("tags", "tags"),
    ("first_seen", "first_seen"), ("last_seen", "last_observed"),
)


def _role_label(role: str, t: Translator) -> str:
    """A known role in the UI language; one a sensor made up, as it said it."""
    return t(f"role_{role}") if role in ROLES else role


def purdue_choices(t: Translator) -> list[tuple[str, str]]:
    """The Purdue level select's (value, label): not set, then level 0 to 5."""
    return [("", t("purdue_none"))] + [(str(n), t(f"purdue_{n}")) for n in ledger.PURDUE_LEVELS]


def _sort_order(sort: str, order: str) -> tuple[str, bool]:
    """(column, descending?) from the query, IP ascending when it names no sortable column."""
    return (sort if sort in ledger.SORTABLE else "ip"), order == "desc"


def _columns(sort: str, descending: bool, t: Translator) -> list[dict]:
    """Headings; a sortable one links to itself ascending, or flipped when it is the active one."""
    columns = []
    for key, message in COLUMNS:
        active = key == sort
        columns.append({
            "key": key,
            "label": t(message),
            "sortable": key in ledger.SORTABLE,
            "order": "desc" if active and not descending else "asc",
            "aria": ("descending" if descending else "ascending") if active else None,
        })
    return columns


def _shown(t: Translator):
    """The texts of a device the ledger's row shows in the page's language: what its search matches."""
    def texts(row: dict) -> list[str]:
        labels = [_role_label(row["role"], t) if row["role"] else "", t(f"auth_{row['authorized']}"),
                  t(f"importance_{row['importance']}") if row["importance"] else "", str(row["risk"])]
        values = [row[k] for k in ("ip", "mac", "vendor", "hostname", "model", "firmware")]
        lists = [*row["protocols_served"], *row["protocols_used"], *map(str, row["vlans"]), *row["tags"]]
        times = [absolute(row[k], MINUTES) for k in ("first_seen", "last_seen")]
        return [text for text in (*labels, *values, *lists, *times) if text]
    return texts


def _times(row: dict, *keys: str, fmt: str = SECONDS) -> dict:
    """``row`` with the times at ``keys`` as the UI shows them."""
    return row | {k: absolute(row[k], fmt) for k in keys}


def _overview_ranges():
    """The overview's ranges and their window (imported late: the overview imports users of this module)."""
    from dashboard.overview import RANGES, window_for

    return RANGES, window_for


def _period(ch: ClickHouseStore, tenant: int, range_key: str) -> tuple[datetime | None, datetime | None]:
    """The ledger's period: one of the overview's ranges up to the newest data, else all history."""
    ranges, window_for = _overview_ranges()
    if range_key not in ranges:
        return None, None
    window = window_for(ch, tenant, range_key)
    return window.start, window.end


def list_context(ch: ClickHouseStore, tenant: int, q: str, role: str, sort: str, order: str,
                 t: Translator, range_key: str = ALL_HISTORY) -> dict:
    sort, descending = _sort_order(sort, order)
    start, end = _period(ch, tenant, range_key)
    assets = [
        _times(a, "first_seen", "last_seen", fmt=MINUTES) | {"role_label": _role_label(a["role"], t)}
        for a in ledger.list_assets(ch, tenant, q, role, sort, descending, start=start, end=end, shown=_shown(t))
    ]
    range_key = range_key if start else ALL_HISTORY
    query = {"q": q, "role": role, "sort": sort, "order": "desc" if descending else "asc", "range": range_key}
    return {
        "period": {"range": range_key, "start": absolute(start, MINUTES), "end": absolute(end, MINUTES),
                   "choices": (ALL_HISTORY, *_overview_ranges()[0])},
        "assets": assets,
        "unauthorized": sum(a["authorized"] == "unauthorized" for a in assets),
        "query": query,
        # The filter's options, and the role asked for when it is one a sensor made up.
        "roles": [(r, _role_label(r, t)) for r in (ROLES if role in ("", *ROLES) else (*ROLES, role))],
        "columns": _columns(sort, descending, t),
        "tz_name": zone_name(),
    }


def detail_context(ch: ClickHouseStore, tenant: int, device: str, t: Translator) -> dict | None:
    """The device's page, or None when the tenant has no such device."""
    assets = ledger.ledger(ch, tenant)
    found = ledger.asset_detail(ch, tenant, device, assets)
    if found is None:
        return None
    attributes, peers, events = found.pop("attributes"), found.pop("peers"), found.pop("events")
    return {
        "asset": _times(found, "first_seen", "last_seen") | {
            "role_label": _role_label(found["role"], t),
            "role_source": t("role_inferred") if found["role_source"] == "behaviour" else found["role_source"],
        },
        "attributes": [(name, [_times(v, "first_seen", "last_seen") for v in values])
                       for name, values in attributes.items()],
        "attribute_labels": {name: reported.attribute_label(name, t) for name in attributes},
        "peers": [_times(p, "last_hour", fmt="%Y-%m-%d %H:00") for p in peers],
        "events": [_times(e, "ts", "ts_end") | {"action_label": reported.function_label(e["action"], t),
                                                 "details": reported.details(e["attrs"], t)}
                   for e in events[:LATEST_EVENTS]],
        "event_count": len(events),
        "timeline": figures.embed(figures.events_figure(events, lambda action: reported.function_label(action, t))),
        "form": {  # the annotation form, filled with what the device has now
            "authorized": found["authorized"], "importance": found["importance"],
            "tags": ", ".join(found["tags"]), "notes": found["notes"], "zone": found["zone"],
            "purdue_level": "" if found["purdue_level"] is None else str(found["purdue_level"]),
        },
        "default_zone": network_zone(found["vlans"], found["ip"]),
        "choices": {
            "authorized": [(v, t(f"auth_{v}")) for v in ledger.AUTHORIZATION],
            "importance": [(v, t(f"importance_{v or 'none'}")) for v in ledger.IMPORTANCE],
            "purdue_level": purdue_choices(t),
        },
        "tz_name": zone_name(),
        # the ledger's keys by address, for the links of the device's alerts (one ledger a page)
        "device_keys": keys_by_name((key, (*a.ips, a.mac)) for key, a in assets.items()),
    }
