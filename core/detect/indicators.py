"""Indicators of compromise: imported offline from STIX 2.1 bundles or CSV (``type,value[,note]``),
per tenant or global (tenant 0), and matched against batches' flows and events — a group's batches
together: the rows that may match are picked out in Arrow, and only they become Python.

Types: ``ip`` (IPv4/IPv6), ``domain`` (matches the name and its subdomains in DNS queries, TLS SNI
and HTTP Host), ``ja3``, ``ja4`` (TLS client fingerprints) and ``hassh`` (SSH client or server).
"""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import stix2
from stix2patterns.pattern import Pattern

from core.detect.kinds import Finding
from core.detect.observe import joined
from core.detect.rules.common import table_rows
from core.store.clickhouse import ClickHouseStore
from sensor import wire

_CSV_TYPES = {"ip": "ip", "ipv4": "ip", "ipv6": "ip", "ipv4-addr": "ip", "ipv6-addr": "ip",
              "domain": "domain", "domain-name": "domain", "ja3": "ja3", "ja4": "ja4", "hassh": "hassh"}
_STIX_OBJECTS = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain"}
# event attribute → indicator type
EVENT_ATTRS = {"qname": "domain", "server_name": "domain", "host": "domain", "ja3": "ja3", "ja4": "ja4",
               "hassh": "hassh", "hassh_server": "hassh"}
RELOAD_S = 30.0  # how long a process trusts its copy of the lists
_ATTR_ENTRIES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))  # an event's attrs, as a list
_MATCHED_ATTRS = pa.array(sorted(EVENT_ATTRS), pa.string())


class IndicatorError(ValueError):
    """A file that is neither a STIX 2.1 bundle nor indicator CSV."""


@dataclass(frozen=True)
class Indicator:
    type: str
    value: str
    note: str = ""


def normalise(kind: str, value: str) -> str | None:
    """The value as matching compares it, or None if it is not a valid ``kind``."""
    value = value.strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return None
    if kind == "domain":
        value = value.lower().rstrip(".")
        return value if value and " " not in value and len(value) <= 253 else None
    value = value.lower()
    return value if value and len(value) <= 128 and value.replace("_", "").isalnum() else None


def parse(text: str) -> tuple[list[Indicator], int]:
    """Indicators in a STIX bundle (JSON) or CSV text, and how many entries were skipped."""
    if text.lstrip().startswith("{"):
        return _stix(text)
    return _csv(text)


def _stix(text: str) -> tuple[list[Indicator], int]:
    try:
        bundle = stix2.parse(json.loads(text), allow_custom=True)
    except (ValueError, stix2.exceptions.STIXError) as exc:
        raise IndicatorError(f"not a STIX 2.1 bundle: {exc}") from None
    found, skipped = [], 0
    for obj in getattr(bundle, "objects", None) or []:
        if obj.get("type") != "indicator":
            continue
        if obj.get("pattern_type") != "stix":
            skipped += 1
            continue
        note = obj.get("name") or obj.get("description") or ""
        got = [Indicator(t, v, note[:500]) for t, v in _pattern_values(obj["pattern"])]
        found += got
        skipped += not got
    return found, skipped


def _pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(type, value) of each ``=`` comparison on an object path we can match."""
    out = []
    for obj_type, comparisons in Pattern(pattern).inspect().comparisons.items():
        for path, op, literal in comparisons:
            if op != "=":
                continue
            name = ".".join(str(p) for p in path).lower()
            kind = _STIX_OBJECTS.get(obj_type) if name == "value" else next(
                (t for t in ("ja3", "ja4", "hassh") if t in name), None)
            value = normalise(kind, literal.strip("'")) if kind else None
            if value:
                out.append((kind, value))
    return out


def _csv(text: str) -> tuple[list[Indicator], int]:
    found, skipped = [], 0
    for n, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if n == 0 and row[0].strip().lower() == "type":
            continue  # header
        kind = _CSV_TYPES.get(row[0].strip().lower())
        value = normalise(kind, row[1]) if kind and len(row) >= 2 else None
        if value is None:
            skipped += 1
            continue
        found.append(Indicator(kind, value, (row[2] if len(row) > 2 else "").strip()[:500]))
    if not found and skipped:
        raise IndicatorError("no indicator in the file: expected CSV rows type,value[,note] or a STIX bundle")
    return found, skipped


def import_file(ch: ClickHouseStore, path: Path, tenant_id: int = 0) -> tuple[int, int]:
    """Store the file's indicators for the tenant (0: every tenant); (imported, skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IndicatorError(f"cannot read {path}: {exc}") from None
    found, skipped = parse(text)
    ch.insert_rows("indicators", [{"tenant_id": tenant_id, "type": i.type, "value": i.value, "note": i.note,
                                   "source": path.name} for i in found])
    return len(found), skipped


class Listed(dict):
    """A tenant's lists, (type, value) → note, with their addresses as Arrow worked out once: a feed of
    200,000 addresses is gone through once a reload, not once a batch."""

    @functools.cached_property
    def addresses(self) -> pa.Array:
        return pa.array([value for kind, value in self if kind == "ip"], pa.string())


class Indicators:
    """The lists one tenant is matched against (its own and the global ones), reloaded every
    RELOAD_S seconds so an import reaches a running core."""

    def __init__(self, ch: ClickHouseStore, reload_s: float = RELOAD_S):
        self.ch = ch
        self.reload_s = reload_s
        self._lists: dict[int, tuple[float, Listed]] = {}
        self._guard = threading.Lock()

    def of(self, tenant_id: int) -> Listed:
        """(type, value) → note."""
        with self._guard:
            cached = self._lists.get(tenant_id)
        if cached and time.monotonic() - cached[0] < self.reload_s:
            return cached[1]
        rows = self.ch.query("SELECT type, value, note FROM indicators FINAL WHERE tenant_id IN (0, {t:UInt32})",
                             {"t": tenant_id})
        found = Listed(((r["type"], r["value"]), r["note"]) for r in rows)
        with self._guard:
            self._lists[tenant_id] = (time.monotonic(), found)
        return found


def domain_hit(listed: dict[tuple[str, str], str], name: str) -> str | None:
    """The listed domain ``name`` is or is under, if any."""
    labels = name.lower().rstrip(".").split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if ("domain", candidate) in listed:
            return candidate
    return None


def _listed_ips(listed: dict[tuple[str, str], str]) -> pa.Array:
    return (listed if isinstance(listed, Listed) else Listed(listed)).addresses


def matches(batches: list[wire.Batch], lists: list[dict[tuple[str, str], str]]) -> list[list[Finding]]:
    """Per batch, its ``indicator_match`` findings against its own tenant's lists (``lists``, one per
    batch, as ``Indicators.of`` gives them): first its flows to or from a listed address, then its
    events' listed names and fingerprints, each in the batch's order."""
    found: list[list[Finding]] = [[] for _ in batches]
    matched = [i for i, listed in enumerate(lists) if listed]
    if not matched:
        return found
    chosen = [batches[i] for i in matched]
    flows = joined(chosen, "flows")
    addresses = [ips for ips in {id(lists[i]): _listed_ips(lists[i]) for i in matched}.values() if len(ips)]
    if flows.num_rows and addresses:
        hit = functools.reduce(pc.or_, (pc.or_(pc.is_in(flows["orig_h"], ips), pc.is_in(flows["resp_h"], ips))
                                        for ips in addresses))
        for f in table_rows(flows.filter(hit), ("b", "ts", "ts_end", "uid", "orig_h", "resp_h", "service")):
            i = matched[f["b"]]
            listed = lists[i]  # the addresses of every tenant were asked for: this batch's tenant's decide
            ip = f["orig_h"] if ("ip", f["orig_h"]) in listed else f["resp_h"]
            if ("ip", ip) in listed:
                found[i].append(_finding("ip", ip, listed[("ip", ip)], f, f["service"]))
    events = joined(chosen, "events")
    if not events.num_rows:
        return found
    attrs = events["attrs"].cast(_ATTR_ENTRIES)
    entries, rows = pc.list_flatten(attrs), pc.list_parent_indices(attrs)
    names = pc.struct_field(entries, 0)
    named = pc.is_in(names, _MATCHED_ATTRS)
    batch_of = events["b"].to_numpy()
    hits = []  # (event row, batch, kind, listed value, attribute), in the events' order
    for row, name, value in zip(rows.filter(named).to_pylist(), names.filter(named).to_pylist(),
                                pc.struct_field(entries, 1).filter(named).to_pylist()):
        i = matched[batch_of[row]]
        listed, kind = lists[i], EVENT_ATTRS[name]
        value = normalise(kind, value) or ""
        match = domain_hit(listed, value) if kind == "domain" else (value if (kind, value) in listed else None)
        if match:
            hits.append((row, i, kind, match, name))
    if not hits:
        return found
    hit_rows = sorted({row for row, *_ in hits})  # each matching event as Python, all in one conversion
    shown = dict(zip(hit_rows, table_rows(events.take(pa.array(hit_rows, pa.int64())), _EVENT_COLUMNS)))
    for row, i, kind, match, name in hits:
        e = shown[row]
        found[i].append(_finding(kind, match, lists[i][(kind, match)], e, e["protocol"], name))
    return found


_EVENT_COLUMNS = ("ts", "ts_end", "uid", "orig_h", "resp_h", "protocol")


def _finding(kind: str, value: str, note: str, row: dict, protocol: str, field: str = "") -> Finding:
    details = (("indicator_type", kind), ("indicator", value)) + ((("note", note),) if note else ()) + (
        (("field", field),) if field else ())
    return Finding("indicator_match", f"{kind}:{value}|{row['orig_h']}>{row['resp_h']}", row["ts"], row["ts_end"],
                   src_ip=row["orig_h"], dst_ip=row["resp_h"], protocol=protocol, details=details,
                   evidence=(row["uid"],) if row["uid"] else ())
