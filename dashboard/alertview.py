"""What the alert pages show (アラート): the list with its counts, timeline and filters, one alert in
plain words with its evidence and history, and the alert summaries of the overview and device pages.
Built from the core's alert store (core/detect/store.py) for one tenant."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.assets import ledger
from core.analytics.window import Window, ending, resolve_window
from core.detect import store
from core.detect.kinds import KINDS, OPEN_STATUSES, SEVERITIES, STATUSES
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import AuditLog
from dashboard import figures
from dashboard.explorelinks import evidence_query
from dashboard.i18n import N_, Translator
from dashboard.timefmt import MINUTES, absolute, as_utc, zone_name

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_RANGE = "24h"
STATUS_FILTERS = ("open", "all", *STATUSES)  # "open": new or acknowledged
PAGE = 50
DEVICE_ALERTS = 20  # on a device's page
NEWEST = 5  # on the overview
# (column, heading) of the list; all sortable by the store
COLUMNS = (("severity", "severity"), ("kind", "alert"), ("count", "alert_count"), ("ts", "alert_first"),
           ("ts_last", "alert_last"), ("status", "alert_state"))
# Detail names the plain-words messages use; a kind that lacks one shows "–".
WORDS = ("function", "service", "port", "attribute", "value", "previous", "sensor", "last_seen",
         "threshold_minutes", "direction", "scan", "indicator", "indicator_type", "budget")
# detail names shown in the page's language (others as the detector named them)
DETAIL_NAMES = ("function", "status", "service", "port", "attribute", "value", "previous", "source", "direction",
                "scan", "indicator", "indicator_type", "sensor", "last_seen", "threshold_minutes", "action", "from",
                "budget", "devices", "links", "functions", "attributes")
# form action → status it sets
STATUS_ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved", "false_positive": "false_positive",
                  "reopen": "new"}

# Messages named by computed keys (tests/dashboard/test_alert_pages.py checks each kind, severity
# and status has them).
COMPUTED_KEYS = (
    N_("severity_critical"), N_("severity_high"), N_("severity_medium"), N_("severity_low"), N_("severity_info"),
    N_("alert_status_new"), N_("alert_status_acknowledged"), N_("alert_status_resolved"),
    N_("alert_status_false_positive"), N_("alert_status_open"), N_("alert_status_all"), N_("range_30d"),
    N_("alert_what_new_device"), N_("alert_what_new_link"), N_("alert_what_new_ot_function"),
    N_("alert_what_plc_stop"), N_("alert_what_plc_start"), N_("alert_what_plc_program_change"),
    N_("alert_what_firmware_change"), N_("alert_what_device_change"), N_("alert_what_cleartext_credentials"),
    N_("alert_what_default_credentials"), N_("alert_what_smbv1"), N_("alert_what_internet_exposure"),
    N_("alert_what_remote_access"), N_("alert_what_scan"), N_("alert_what_indicator_match"),
    N_("alert_what_sensor_silent"), N_("alert_what_new_flood"), N_("nav_alerts"),
    N_("done_acknowledge"), N_("done_resolve"), N_("done_false_positive"), N_("done_reopen"), N_("done_learn"),
    N_("done_assign"), N_("done_comment"),
    N_("action_acknowledge"), N_("action_resolve"), N_("action_false_positive"), N_("action_reopen"),
    N_("action_learn"),
    N_("detail_function"), N_("detail_status"), N_("detail_service"), N_("detail_port"), N_("detail_attribute"),
    N_("detail_value"), N_("detail_previous"), N_("detail_source"), N_("detail_direction"), N_("detail_scan"),
    N_("detail_indicator"), N_("detail_indicator_type"), N_("detail_sensor"), N_("detail_last_seen"),
    N_("detail_threshold_minutes"), N_("detail_action"), N_("detail_from"), N_("detail_budget"),
    N_("detail_devices"), N_("detail_links"), N_("detail_functions"), N_("detail_attributes"),
)


@dataclass
class Filters:
    range: str = DEFAULT_RANGE
    status: str = "open"
    severity: str = ""
    kind: str = ""
    device: str = ""
    sort: str = "ts_last"
    order: str = "desc"
    page: int = 1

    @classmethod
    def parse(cls, **given: str) -> Filters:
        """Filters from the query; an unknown value falls back to the default, never an error."""
        f = cls(device=given.get("device", "").strip()[:200])
        for name, allowed in (("range", RANGES), ("status", STATUS_FILTERS), ("severity", SEVERITIES),
                              ("kind", KINDS), ("sort", store.SORTABLE), ("order", ("asc", "desc"))):
            if given.get(name) in allowed:
                setattr(f, name, given[name])
        page = given.get("page", "")
        f.page = int(page) if page.isdigit() and 0 < int(page) < 10**6 else 1
        return f

    def statuses(self) -> list[str]:
        return {"open": list(OPEN_STATUSES), "all": []}.get(self.status, [self.status])

    def query(self, **changes: object) -> str:
        """This list's query string with some filters changed (and back to the first page)."""
        values = {**self.__dict__, "page": 1, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def window(ch: ClickHouseStore, tenant: int, range_key: str) -> Window:
    """``range_key`` long, ending at the next whole hour after the newest data or alert."""
    end = resolve_window(ch, tenant).end
    newest = store.list_alerts(ch, tenant, sort="ts_last", limit=1)
    if newest:
        end = max(end, as_utc(newest[0]["ts_last"]))
    return ending(end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), RANGES[range_key])


def device_keys(ch: ClickHouseStore, tenant: int) -> dict[str, str]:
    """The ledger's device keys by key, MAC and IP: an alert's side known only by its IP (e.g. an
    OT function from events) still links to its device's page."""
    return keys_by_name((key, (*asset.ips, asset.mac)) for key, asset in ledger(ch, tenant).items())


def keys_by_name(devices: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """Device keys by key and by each of the (device key, its addresses) pairs' addresses."""
    keys: dict[str, str] = {}
    for key, names in devices:
        for name in (*names, key):
            if name:
                keys[name] = key
    return keys


def _side(end: dict, devices: dict[str, str]) -> dict:
    """One side of an alert: its label, and the device key of its page when the ledger has one."""
    label = end["ip"] or end["mac"] or end["device"]
    key = next((devices[n] for n in (end["device"], end["mac"], end["ip"]) if n in devices), "")
    return {"label": label, "device": key}


def row(alert: dict, devices: dict[str, str], t: Translator) -> dict:
    """An alert as a list row shows it."""
    return {
        "id": alert["id"], "severity": alert["severity"], "severity_label": t(f"severity_{alert['severity']}"),
        "title": alert["title_ja"] if t.lang == "ja" else alert["title_en"], "kind": alert["kind"],
        "src": _side(alert["src"], devices), "dst": _side(alert["dst"], devices), "protocol": alert["protocol"],
        "count": alert["count"], "first": absolute(alert["ts"], MINUTES), "last": absolute(alert["ts_last"], MINUTES),
        "status": alert["status"], "status_label": t(f"alert_status_{alert['status']}"),
        "assignee": alert["assignee"],
    }


def _columns(f: Filters, t: Translator) -> list[dict]:
    """Headings that sort the list; the active one flips its order."""
    out = []
    for key, message in COLUMNS:
        active = key == f.sort
        order = "asc" if active and f.order == "desc" else "desc"
        out.append({"key": key, "label": t(message), "sortable": True, "href": "?" + f.query(sort=key, order=order),
                    "aria": ("descending" if f.order == "desc" else "ascending") if active else None})
    return out


def list_context(ch: ClickHouseStore, tenant: int, f: Filters, csv_path: str, t: Translator) -> dict:
    win = window(ch, tenant, f.range)
    chosen = {"start": win.start, "end": win.end, "status": f.statuses(),
              "severity": [f.severity] if f.severity else [], "kind": [f.kind] if f.kind else [], "device": f.device}
    total = store.count_alerts(ch, tenant, **chosen)
    pages = max(1, -(-total // PAGE))
    f.page = min(f.page, pages)
    alerts = store.list_alerts(ch, tenant, **chosen, sort=f.sort, descending=f.order == "desc", limit=PAGE,
                               offset=(f.page - 1) * PAGE)
    devices = device_keys(ch, tenant) if alerts else {}
    counts = store.counts_by_severity(ch, tenant, win.start, win.end, f.statuses())
    severity_label = lambda s: t(f"severity_{s}")  # noqa: E731
    figure = figures.alerts_figure(store.timeline(ch, tenant, win.start, win.end, status=f.statuses()),
                                   win.start, win.end, severity_label, t)
    csv_query = [("start", win.start.isoformat()), ("end", win.end.isoformat()), ("sort", f.sort),
                 ("order", f.order), *(("status", s) for s in f.statuses())] + [
        (k, getattr(f, k)) for k in ("severity", "kind", "device") if getattr(f, k)]
    return {
        "filters": f,
        "alerts": [row(a, devices, t) for a in alerts],
        "total": total, "pages": pages,
        "counts": [{"severity": s, "label": severity_label(s), "n": counts[s],
                    "href": "?" + f.query(severity="" if f.severity == s else s),
                    "current": f.severity == s} for s in SEVERITIES],
        "timeline": figures.embed(figure),
        "window": {"start": absolute(win.start, MINUTES), "end": absolute(win.end, MINUTES)},
        "ranges": [(key, t(f"range_{key}"), "?" + f.query(range=key)) for key in RANGES],
        "statuses": [(s, t(f"alert_status_{s}")) for s in STATUS_FILTERS],
        "severities": [(s, severity_label(s)) for s in SEVERITIES],
        "kinds": sorted(((k.name, k.title_ja if t.lang == "ja" else k.title_en) for k in KINDS.values()),
                        key=lambda kv: kv[1]),
        "columns": _columns(f, t),
        "page_links": {"prev": "?" + f.query(page=f.page - 1) if f.page > 1 else "",
                       "next": "?" + f.query(page=f.page + 1) if f.page < pages else ""},
        "csv": csv_path + "?" + urlencode(csv_query),
        "tz_name": zone_name(),
    }


def what_happened(alert: dict, t: Translator) -> str:
    """The alert in one or two plain sentences, from its kind, ends and details."""
    details = alert["details"]
    src, dst = (alert[s]["ip"] or alert[s]["mac"] or "–" for s in ("src", "dst"))
    values = {name: details.get(name) or "–" for name in WORDS}
    if details.get("last_seen"):
        try:
            values["last_seen"] = absolute(datetime.fromisoformat(details["last_seen"]))
        except ValueError:
            pass
    return t(f"alert_what_{alert['kind']}", src=src, dst=dst, target=dst if dst != "–" else src,
             protocol=alert["protocol"] or "–", **values)


def detail_label(name: str, t: Translator) -> str:
    """A detail's name in the page's language: a known detail's label, an alert kind's title (a
    ``new_flood`` alert counts the new alerts of a kind it cut), else the name as the detector gave it."""
    if name in DETAIL_NAMES:
        return t(f"detail_{name}")
    kind = KINDS.get(name)
    return (kind.title_ja if t.lang == "ja" else kind.title_en) if kind else name


def _history(db: Session, tenant: int, alert: dict, t: Translator) -> list[dict]:
    """Raised, then each change an analyst made (from the audit log) and each comment, oldest first."""
    entries = [(as_utc(alert["ts"]), "mieruka", t("history_raised"), "")]
    audited = db.scalars(select(AuditLog).where(
        AuditLog.tenant_id == tenant, AuditLog.action.in_(("alert.update", "alert.learn")),
        AuditLog.detail.startswith(f"{alert['id']}: ", autoescape=True)).order_by(AuditLog.id))
    for entry in audited:
        if entry.action == "alert.learn":
            entries.append((as_utc(entry.ts), entry.actor, t("history_learned"), ""))
            continue
        try:
            said = json.loads(entry.detail.partition(": ")[2])
        except ValueError:  # cut at the audit log's length: the comment shows below anyway
            continue
        if "status" in said:
            entries.append((as_utc(entry.ts), entry.actor,
                            t("history_status", status=t(f"alert_status_{said['status']}")), ""))
        if "assignee" in said:
            text = t("history_assigned", who=said["assignee"]) if said["assignee"] else t("history_unassigned")
            entries.append((as_utc(entry.ts), entry.actor, text, ""))
    entries += [(as_utc(c["ts"]), c["author"], t("history_comment"), c["text"]) for c in alert["comments"]]
    return [{"ts": absolute(ts), "actor": actor, "text": text, "comment": comment}
            for ts, actor, text, comment in sorted(entries, key=lambda e: e[0])]


def _times(rows: list[dict], *keys: str) -> list[dict]:
    return [r | {k: absolute(r[k]) for k in keys} for r in rows]


def detail_context(ch: ClickHouseStore, db: Session, tenant: int, alert_id: str, t: Translator) -> dict | None:
    """One alert's page, or None when the tenant has no such alert."""
    alert = store.get_alert(ch, tenant, alert_id)
    if alert is None:
        return None
    devices = device_keys(ch, tenant)
    kind = KINDS.get(alert["kind"])
    shown = row(alert, devices, t)
    return {
        "alert": alert | shown | {"first": absolute(alert["ts"]), "last": absolute(alert["ts_last"])},
        "what": what_happened(alert, t),
        "technique": {"id": alert["technique"], "name": alert["technique_name"],
                      "url": f"https://attack.mitre.org/techniques/{alert['technique']}/"},
        "details": [(detail_label(name, t), value) for name, value in sorted(alert["details"].items())],
        "ends": [(t("alert_src"), alert["src"], shown["src"]["device"]),
                 (t("alert_dst"), alert["dst"], shown["dst"]["device"])],
        "flows": _times(alert["evidence_flows"], "ts", "ts_end"),
        "events": _times(alert["evidence_events"], "ts", "ts_end"),
        "explore": {kind: evidence_query(alert[f"evidence_{kind}"]) for kind in ("flows", "events")},
        "history": _history(db, tenant, alert, t),
        "learnable": alert["kind"] in store.LEARNABLE and alert["status"] in OPEN_STATUSES,
        "kind_when": kind.when if kind else "",
        "tz_name": zone_name(),
    }


def device_alerts(ch: ClickHouseStore, tenant: int, device: str, t: Translator,
                  devices: dict[str, str] | None = None) -> dict:
    """A device's alerts (either side), open ones first, newest first within each. ``devices``:
    ``device_keys`` when the caller has the ledger already."""
    opened = store.list_alerts(ch, tenant, status=list(OPEN_STATUSES), device=device, sort="ts_last",
                               limit=DEVICE_ALERTS)
    closed = store.list_alerts(ch, tenant, status=[s for s in STATUSES if s not in OPEN_STATUSES], device=device,
                               sort="ts_last", limit=DEVICE_ALERTS - len(opened))
    total = store.count_alerts(ch, tenant, device=device)
    devices = (device_keys(ch, tenant) if devices is None else devices) if opened or closed else {}
    return {"rows": [row(a, devices, t) for a in opened + closed], "open": len(opened), "total": total,
            "device": device}


def summary(ch: ClickHouseStore, tenant: int, t: Translator, devices: dict[str, str] | None = None) -> dict:
    """The overview's summary: open alerts by severity, and a few of them, the most severe first
    and the newest within a severity (so a critical one is not hidden behind many low ones).
    ``devices``: ``device_keys`` when the caller has the ledger already."""
    counts = store.counts_by_severity(ch, tenant, status=list(OPEN_STATUSES))
    newest: list[dict] = []
    for severity in (s for s in SEVERITIES if counts[s]):
        newest += store.list_alerts(ch, tenant, status=list(OPEN_STATUSES), severity=[severity], sort="ts_last",
                                    limit=NEWEST - len(newest))
        if len(newest) == NEWEST:
            break
    if not newest:
        devices = {}
    elif devices is None:
        devices = device_keys(ch, tenant)
    return {"counts": [{"severity": s, "label": t(f"severity_{s}"), "n": counts[s]} for s in SEVERITIES],
            "open": sum(counts.values()), "newest": [row(a, devices, t) for a in newest]}
