"""Asset ledger queries: fetch facts, traffic and notes for a tenant and build the ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from core.analytics import risk
from core.analytics.explore import MARGIN
from core.analytics.kept import INGEST, LEDGER_TOTAL, Kept
from core.analytics.ledger import Asset, ip_order
from core.analytics.ledger_reads import annotations, built, read
from core.analytics.spans import pair_volume_rows, whole_days
from core.analytics.window import EARLIEST, LATEST, utc
from core.export.csvsafe import csv_text
from core.store.clickhouse import ClickHouseStore

AUTHORIZATION = ("unknown", "authorized", "unauthorized")
IMPORTANCE = ("", "low", "medium", "high", "critical")
PURDUE_LEVELS = range(6)  # Purdue model levels 0 (process) to 5 (enterprise network)
ANNOTATED = ("authorized", "importance", "tags", "notes", "zone", "purdue_level")
CSV_COLUMNS = ("ip", "mac", "role", "vendor", "hostname", "model", "firmware", "serial", "os",
               "protocols_served", "protocols_used", "vlans", "first_seen", "last_seen",
               "authorized", "importance", "tags", "notes", "risk")
SORTABLE = ("ip", "mac", "vendor", "hostname", "role", "model", "first_seen", "last_seen",
            "authorized", "importance", "risk")
MAX_EVENTS = 500
MAX_QUERY = 200  # the longest search text: a longer one would be echoed into every link of the page


# What changes a ledger (core.analytics.kept: a ledger is kept until its tenant's batches or notes change).
LEDGER_SOURCES = (*INGEST, "asset_annotations")
_LEDGERS: Kept[dict[str, Asset]] = Kept(LEDGER_SOURCES, total=LEDGER_TOTAL)


def ledger(ch: ClickHouseStore, tenant_id: int, start: datetime | None = None,
           end: datetime | None = None) -> dict[str, Asset]:
    """The devices seen in [start, end) (None: open), with their first and last sighting in it and
    their attributes as they stood at its end. Reads the state tables kept at ingest only; kept until
    they change (the same objects for every caller meanwhile: read them, do not change them)."""
    return _LEDGERS.get(ch, tenant_id, (start, end), lambda: built(read(ch, tenant_id, [(start, end)]), 0))


def _jsonable(row: dict) -> dict:
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def returned_texts(value) -> list[str]:
    """What the API returns of a device, as text: each value, a list's items and a mapping's values
    one by one, times in ISO 8601 UTC — the texts its search matches."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in returned_texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in returned_texts(item)]
    if isinstance(value, datetime):
        return [utc(value).isoformat()]
    return [] if value in ("", None) else [str(value)]


def list_assets(ch: ClickHouseStore, tenant_id: int, q: str = "", role: str = "",
                sort: str = "ip", descending: bool = False, start: datetime | None = None,
                end: datetime | None = None, shown: Callable[[dict], Iterable[str]] = returned_texts) -> list[dict]:
    """Device summaries of the window, filtered by a free-text query (any of the texts ``shown``
    gives of a device contains it, case aside) and role, sorted by one column."""
    assets = ledger(ch, tenant_id, start=start, end=end)
    scores = risk.scored(ch, tenant_id, assets)
    rows = [a.summary() | scores[key] for key, a in assets.items()]
    if q:
        needle = q.casefold()
        rows = [r for r in rows if any(needle in text.casefold() for text in shown(r))]
    if role:
        rows = [r for r in rows if r["role"] == role]
    return [_jsonable(r) for r in sort_assets(rows, sort, descending)]


def sort_assets(rows: list[dict], column: str, descending: bool) -> list[dict]:
    """Rows by ``column`` either way, empty values last both ways, ties by IP then MAC."""
    rows = sorted(rows, key=lambda r: (_ip_key(r), r["mac"]))
    key = _sort_key(column)
    present = [r for r in rows if key(r) is not None]
    present.sort(key=key, reverse=descending)  # stable both ways: ties keep the IP order
    return present + [r for r in rows if key(r) is None]


def _ip_key(row: dict):
    return ip_order(row["ip"]) if row["ip"] else (10, 0)  # no IP after every address


def assets_csv(rows: list[dict]) -> str:
    """Listed assets as CSV: UTC times, list values space-separated, formulas neutralised."""
    return csv_text(CSV_COLUMNS, ({c: _csv_cell(row[c]) for c in CSV_COLUMNS} for row in rows))


def _csv_cell(value):
    return " ".join(map(str, value)) if isinstance(value, list) else value


def _sort_key(column: str):
    if column == "ip":
        return lambda r: ip_order(r["ip"]) if r["ip"] else None
    if column == "risk":
        return lambda r: (r["risk"],)  # a tuple: a score of 0 is a value, not a missing one
    if column == "importance":  # by rank, low to critical
        return lambda r: IMPORTANCE.index(r["importance"]) if r["importance"] else None
    return lambda r: r[column] if r[column] not in ("", None) else None


def device_key(assets: dict[str, Asset], device: str) -> str | None:
    """The ledger key ``device`` names: the key itself, a MAC in any letter case, or an IP the
    device holds (the lowest key when several do)."""
    named = device.strip()
    if named in assets or named.lower() in assets:
        return named if named in assets else named.lower()
    return next((key for key in sorted(assets) if named in assets[key].ips), None)


def asset_detail(ch: ClickHouseStore, tenant_id: int, device: str,
                 assets: dict[str, Asset] | None = None) -> dict | None:
    """One device (by its key, a MAC in any case or one of its IPs): attributes with every source,
    peers by service, and its events timeline. ``assets``: the tenant's ledger, when the caller has it."""
    assets = ledger(ch, tenant_id) if assets is None else assets
    key = device_key(assets, device)
    if key is None:
        return None
    found = assets[key]
    ips = sorted(found.ips)
    peers, events = _HOSTS.get(ch, tenant_id, (tuple(ips), MAX_EVENTS), lambda: (
        (_peers(ch, tenant_id, ips), newest_events(ch, tenant_id, ips, found.last_seen)) if ips else ([], [])))
    return {
        **_jsonable(found.summary()),
        **risk.scored(ch, tenant_id, assets)[key],
        "attributes": {
            name: [_jsonable(vars(v)) for v in values] for name, values in sorted(found.attributes.items())
        },
        "peers": [_jsonable(p) for p in peers],
        "events": [_jsonable(e) for e in events],
    }


# A device's peers and newest events: from its tenant's batches (core.analytics.kept: kept until they change).
_HOSTS: Kept[tuple[list[dict], list[dict]]] = Kept(INGEST)


def _peers(ch: ClickHouseStore, tenant_id: int, ips: list[str]) -> list[dict]:
    """The peers of ``ips`` by direction and service, the 200 heaviest, over all time."""
    pairs = pair_volume_rows("orig_h, resp_h, service, proto, resp_p, bytes, packets, flows, last_hour",
                             "orig_h, resp_h, service, proto, resp_p, bytes, packets, flows, hour",
                             where="(orig_h IN {ips:Array(String)} OR resp_h IN {ips:Array(String)})")
    return ch.query(
        f"""
        SELECT if(orig_h IN {{ips:Array(String)}}, resp_h, orig_h) AS peer,
               if(orig_h IN {{ips:Array(String)}}, 'out', 'in') AS direction,
               service, proto, resp_p, sum(bytes) AS bytes, sum(packets) AS packets,
               sum(flows) AS flows, max(last_hour) AS last_hour
        FROM {pairs}
        GROUP BY peer, direction, service, proto, resp_p HAVING packets > 0
        ORDER BY bytes DESC LIMIT 200
        """,
        {"tenant": tenant_id, "ips": ips, "start": EARLIEST, "end": LATEST, **whole_days(EARLIEST, LATEST)},
    )


# The oldest bucket (hour or day) from {since} on still needed for the newest {limit} events of {ips}:
# each key of the actions rollup, per bucket, stands for at least one stored event, so once the keys of
# the newer buckets reach the limit the older ones are not needed. Also the newest bucket and all the keys.
_NEEDED_SINCE = """
    SELECT minIf(bucket, upto - keys < {{limit:UInt32}}) AS since, max(bucket) AS newest, max(upto) AS total
    FROM (SELECT bucket, keys, sum(keys) OVER (ORDER BY bucket DESC) AS upto
          FROM (SELECT bucket, count() AS keys FROM (
                    SELECT {bucket} AS bucket FROM {table}
                    WHERE tenant_id = {{tenant:UInt32}} AND {bucket} >= {{since:DateTime('UTC')}}
                      AND (orig_h IN {{ips:Array(String)}} OR resp_h IN {{ips:Array(String)}})
                    GROUP BY bucket, orig_h, resp_h, protocol, action HAVING sum(count) > 0)
                GROUP BY bucket))"""
_NEEDED_DAY = _NEEDED_SINCE.format(table="event_actions_1d", bucket="day")
_NEEDED_HOUR = _NEEDED_SINCE.format(table="event_actions_1h", bucket="hour")
RECENT = timedelta(days=1)  # the hours looked at first: the device's newest day and the day before


def _newest_hour(ch: ClickHouseStore, params: dict, last_seen: datetime | None) -> datetime:
    """The hour that bounds the newest events, read from the hourly actions rollup over the device's last
    two days first (a busy device's bound lies there): from the day before the one it was ``last_seen``
    in, else before the daily rollup's newest day. Only when their keys fall short of the limit, the daily
    rollup's bound (the oldest day needed), and the hourly rollup from that day on."""
    day = None if last_seen else ch.query(_NEEDED_DAY, params | {"since": EARLIEST})[0]
    newest = day["newest"] if day else last_seen.replace(hour=0, minute=0, second=0, microsecond=0)
    recent = max(newest - RECENT, day["since"] if day else EARLIEST)
    hour = ch.query(_NEEDED_HOUR, params | {"since": recent})[0]
    if hour["total"] >= params["limit"]:  # the newer keys reach the limit within the recent hours
        return hour["since"]
    day = day or ch.query(_NEEDED_DAY, params | {"since": EARLIEST})[0]
    if recent <= day["since"]:  # the recent hours covered every day needed
        return hour["since"]
    return ch.query(_NEEDED_HOUR, params | {"since": day["since"]})[0]["since"]


def newest_events(ch: ClickHouseStore, tenant_id: int, ips: list[str],
                  last_seen: datetime | None = None) -> list[dict]:
    """The newest MAX_EVENTS events to or from ``ips`` (a device last seen at ``last_seen``, when known),
    read from raw events only since the hour that bounds them (_newest_hour): a time range of the
    ordering key (the batch interval)."""
    params = {"tenant": tenant_id, "ips": ips, "limit": MAX_EVENTS}
    since = _newest_hour(ch, params, last_seen)
    return ch.query(
        """
        SELECT ts, ts_end, count, orig_h, resp_h, resp_p, protocol, action, status, attrs FROM events
        WHERE tenant_id = {tenant:UInt32} AND (orig_h IN {ips:Array(String)} OR resp_h IN {ips:Array(String)})
          AND interval_start >= {floor:DateTime64(6, 'UTC')} AND ts >= {since:DateTime64(6, 'UTC')}
        ORDER BY ts DESC LIMIT {limit:UInt32}
        """,
        params | {"since": since, "floor": since - MARGIN},
    )


def annotate(ch: ClickHouseStore, tenant_id: int, device: str, actor: str, *,
             authorized: str = "unknown", importance: str = "", tags: list[str] | None = None,
             notes: str = "", zone: str = "", purdue_level: int | None = None) -> dict:
    """Record what an analyst says about a device (an empty zone: the default one, its VLAN or
    subnet); raises ValueError on an unknown value."""
    row = _annotation_row(tenant_id, device, actor, authorized, importance, tags, notes, zone, purdue_level)
    ch.insert_rows("asset_annotations", [row])
    return _saved(row)


def amend(ch: ClickHouseStore, tenant_id: int, devices: list[str], actor: str, **changes) -> list[dict]:
    """Change some annotation fields (e.g. the zone) of several devices at once, keeping the rest;
    returns what each device has now."""
    current = annotations(ch, tenant_id)
    rows = [_annotation_row(tenant_id, device, actor, **(
        {k: v for k, v in current.get(device, {}).items() if k in ANNOTATED} | changes)) for device in devices]
    ch.insert_rows("asset_annotations", rows)
    return [_saved(row) for row in rows]


def _saved(row: dict) -> dict:
    return _jsonable({k: v for k, v in row.items() if k != "tenant_id"})


def _annotation_row(tenant_id: int, device: str, actor: str, authorized: str = "unknown", importance: str = "",
                    tags: list[str] | None = None, notes: str = "", zone: str = "",
                    purdue_level: int | None = None) -> dict:
    if authorized not in AUTHORIZATION:
        raise ValueError(f"authorized must be one of {', '.join(AUTHORIZATION)}")
    if importance not in IMPORTANCE:
        raise ValueError(f"importance must be one of {', '.join(i or '(empty)' for i in IMPORTANCE)}")
    if purdue_level is not None and purdue_level not in PURDUE_LEVELS:
        raise ValueError("purdue_level must be 0 to 5, or empty")
    clean_tags = sorted({t.strip() for t in tags or [] if t.strip()})
    return {"tenant_id": tenant_id, "device": device, "authorized": authorized,
            "importance": importance, "tags": clean_tags, "notes": notes.strip(),
            "zone": " ".join(zone.split()), "purdue_level": purdue_level,
            "updated_by": actor, "updated_at": datetime.now(UTC)}
