"""What one batch shows that the baseline knows or not: its devices, links, OT functions and
device attributes, each as a baseline key with the finding it raises when the key is unknown
(or, for an attribute, when its value changed).

The batch's tables are grouped first (Arrow), so the Python work is per distinct pair or device,
not per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from core.detect.kinds import Finding
from core.detect.site import Site, is_unicast_mac
from sensor import wire

MAX_EVIDENCE = 20
OT_PROTOCOLS = frozenset((
    "ads", "bacnet", "cclink_ie", "cclink_ie_field_basic", "cclink_ie_tsn", "cip", "dnp3", "enip", "goose",
    "hart_ip", "iec104", "knxnet_ip", "mms", "modbus", "omron_fins", "opcua", "profinet", "profinet_io_cm",
    "s7comm", "s7comm_plus", "slmp", "umas"))
# attribute → the kind a change of it raises
WATCHED = {"model": "device_change", "product": "device_change", "hostname": "device_change",
           "os": "device_change", "role": "device_change", "firmware": "firmware_change",
           "revision": "firmware_change"}


@dataclass(frozen=True)
class Sighting:
    """A baseline entry the batch shows, and the finding if it is new (or changed)."""

    kind: str  # baseline kind: device, link, function, attribute
    key: str
    value: str
    finding: Finding


def _micros(column: pa.ChunkedArray) -> list[int]:
    return column.cast(pa.int64()).to_pylist()


def _grouped(table: pa.Table, keys: list[str], ts_end: str = "ts_end", count: str | None = None,
             anyof: str | None = None) -> list[dict]:
    """One dict per distinct ``keys``: first ts, last ts_end, first uid, the rows' count and, given
    ``anyof`` (a boolean column), whether any row has it."""
    aggs = [("ts", "min"), (ts_end, "max"), ("uid", "first")]
    aggs.append((count, "sum") if count else ("uid", "count"))
    if anyof:
        aggs.append((anyof, "any"))
    grouped = table.group_by(keys, use_threads=False).aggregate(aggs)
    grouped = grouped.rename_columns(keys + ["ts", "ts_last", "uid", "n"] + ([anyof] if anyof else []))
    columns = {name: (_micros(grouped[name]) if name in ("ts", "ts_last") else grouped[name].to_pylist())
               for name in grouped.column_names}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


class _Devices:
    """Devices of the batch by key, with an address of each and the uids they showed up in."""

    def __init__(self):
        self.found: dict[str, list] = {}  # key → [ts, ts_last, count, ip, mac, uids]
        self.mac_of: dict[str, str] = {}  # ip → the MAC it came from in this batch

    def see(self, mac: str, ip: str, site: Site, ts: int, ts_last: int, uid: str, n: int = 1) -> None:
        mac = mac if is_unicast_mac(mac) else ""
        ip = ip if site.is_site(ip) else ""
        if mac and ip:
            self.mac_of.setdefault(ip, mac)
        for key in (mac, ip):
            if not key:
                continue
            seen = self.found.get(key)
            if seen is None:
                self.found[key] = [ts, ts_last, n, ip, mac, [uid] if uid else []]
                continue
            seen[0], seen[1], seen[2] = min(seen[0], ts), max(seen[1], ts_last), seen[2] + n
            seen[3], seen[4] = seen[3] or ip, seen[4] or mac
            if uid and len(seen[5]) < MAX_EVIDENCE and uid not in seen[5]:
                seen[5].append(uid)

    def findings(self) -> dict[str, Finding]:
        return {key: Finding("new_device", key, ts, ts_last, n, src_ip=ip, src_mac=mac, evidence=tuple(uids))
                for key, (ts, ts_last, n, ip, mac, uids) in self.found.items()}


def sightings(batch: wire.Batch, site: Site) -> list[Sighting]:
    devices = _Devices()
    found: list[Sighting] = []
    flows = batch.tables["flows"]
    if flows.num_rows:
        # a link is a service that answered: a refused or unanswered probe is the scan rule's matter
        answered = pc.and_(pc.greater(flows["resp_pkts"], 0), pc.not_equal(flows["conn_state"], "REJ"))
        for g in _grouped(flows.append_column("answered", answered), ["orig_h", "resp_h", "orig_l2_addr",
                          "resp_l2_addr", "proto", "resp_p", "ethertype", "service"], anyof="answered"):
            devices.see(g["orig_l2_addr"], g["orig_h"], site, g["ts"], g["ts_last"], g["uid"])
            devices.see(g["resp_l2_addr"], g["resp_h"], site, g["ts"], g["ts_last"], g["uid"])
            if g["answered"] and (link := _link(g, site)):
                found.append(link)
    observations = batch.tables["observations"]
    if observations.num_rows:
        for g in _grouped(observations.append_column("uid", pa.nulls(observations.num_rows, pa.string())),
                          ["mac", "ip"], ts_end="ts"):
            devices.see(g["mac"], g["ip"], site, g["ts"], g["ts_last"], "", g["n"])
        watched = observations.filter(pc.is_in(observations["attribute"], pa.array(sorted(WATCHED))))
        watched = watched.append_column("us", watched["ts"].cast(pa.int64()))
        for o in watched.select(["us", "mac", "ip", "attribute", "value", "source"]).to_pylist():
            if o["value"]:
                found.append(_attribute(o, o["us"], site))
    events = batch.tables["events"]
    if events.num_rows:
        ot = events.filter(pc.is_in(events["protocol"], pa.array(sorted(OT_PROTOCOLS))))
        if ot.num_rows:
            for g in _grouped(ot, ["orig_h", "resp_h", "resp_p", "protocol", "action"], count="count"):
                key = f"{g['orig_h']}>{g['resp_h']}|{g['protocol']}|{g['action']}"
                found.append(Sighting("function", key, "", Finding(
                    "new_ot_function", key, g["ts"], g["ts_last"], g["n"], src_ip=g["orig_h"], dst_ip=g["resp_h"],
                    protocol=g["protocol"], details=(("function", g["action"]),),
                    evidence=(g["uid"],) if g["uid"] else ())))
    for key, f in devices.findings().items():
        # a new IP of a device whose MAC is also new in this batch is one device, shown by its MAC
        owner = devices.mac_of.get(key)
        found.append(Sighting("device", key, owner or "", f))
    return found


def _link(g: dict, site: Site) -> Sighting | None:
    """The flow group's link if both ends are site devices (IP) or stations (a layer-2 flow)."""
    if g["orig_h"] or g["resp_h"]:
        if not (site.is_site(g["orig_h"]) and site.is_site(g["resp_h"])):
            return None
        orig, resp = g["orig_h"], g["resp_h"]
    else:
        if not (is_unicast_mac(g["orig_l2_addr"]) and is_unicast_mac(g["resp_l2_addr"])):
            return None
        orig, resp = g["orig_l2_addr"], g["resp_l2_addr"]
    service = g["service"] or (f"{g['proto']}/{g['resp_p']}" if g["orig_h"] else f"l2/0x{g['ethertype']:04x}")
    key = f"{orig}>{resp}|{service}"
    return Sighting("link", key, "", Finding(
        "new_link", key, g["ts"], g["ts_last"], g["n"], src_ip=g["orig_h"], src_mac=g["orig_l2_addr"],
        dst_ip=g["resp_h"], dst_mac=g["resp_l2_addr"], protocol=service,
        details=(("service", service), ("port", str(g["resp_p"]))), evidence=(g["uid"],) if g["uid"] else ()))


def _attribute(o: dict, ts: int, site: Site) -> Sighting:
    device = o["mac"] if is_unicast_mac(o["mac"]) else o["ip"]
    key = f"{device}|{o['attribute']}|{o['source']}"
    return Sighting("attribute", key, o["value"], Finding(
        WATCHED[o["attribute"]], key, ts, ts, src_ip=o["ip"] if site.is_site(o["ip"]) else "",
        src_mac=o["mac"] if is_unicast_mac(o["mac"]) else "", protocol=o["source"],
        details=(("attribute", o["attribute"]), ("value", o["value"]), ("source", o["source"]))))
