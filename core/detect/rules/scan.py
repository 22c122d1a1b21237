"""One source probing many hosts or ports within the batch (one interval, a minute by default):
TCP/UDP port scans and host sweeps, ARP sweeps, Modbus unit-id scans and CIP/S7 identity sweeps.

A probe is a unicast flow that started in this batch: over TCP an attempt the originator opened
with a SYN and that carried no payload either way (a SYN scan, a refused or reset attempt), over
UDP a datagram that got no answer. Thresholds are per batch.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import timezone

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, events, flows, macs, places
from sensor.wire import Batch

# Distinct ports probed on one host: a client opens a handful of services on a server; nmap's
# quickest scan (-F) tries 100 ports, so 20 empty attempts in a minute is scanning, not use.
PORT_SCAN_PORTS = 20
# Distinct hosts probed by one source: an HMI or historian polls its PLCs over connections that
# carry data (no probes); 20 empty attempts at different hosts in a minute is a sweep.
HOST_SWEEP_HOSTS = 20
# ARP requests from one MAC: a host resolves a few neighbours a minute; a sweep asks for every
# address of a /24. The L2 flow counts requests, not distinct targets, and a host re-asking for one
# missing address sends many (130 a minute in the corpus's EIP-IPAddressChangeAttempt), hence 200.
ARP_SWEEP_REQUESTS = 200
# Distinct Modbus unit ids one client addresses at one server: a serial gateway fans out to a few
# dozen slaves at most; unit-id scans walk 1–247.
MODBUS_UNITS = 32
# Distinct hosts asked for their identity by one source: engineering software asks the few PLCs of
# its project; asking 8 or more within a minute is asset discovery.
IDENTITY_HOSTS = 8

ARP = 0x0806
PROBE_STATES = frozenset({"S0", "REJ", "RSTOS0", "RSTO", "RSTR", "SH"})
S7_IDENTITY_SZL = frozenset({"0x0011", "0x001c", "0x0424"})  # module id, component id, CPU state


def _probe(flow: dict, start_us: int, unicast) -> bool:
    if flow["ts"] < start_us or not flow["orig_pkts"] or not unicast(flow["resp_h"]):
        return False
    if flow["proto"] == "tcp":
        return ("S" in (flow["history"] or "") and flow["orig_bytes"] == 0 and flow["resp_bytes"] == 0
                and flow["conn_state"] in PROBE_STATES)
    return flow["proto"] == "udp" and flow["resp_pkts"] == 0


def _identity(event: dict) -> bool:
    protocol, action, attrs = event["protocol"], event["action"], event["attrs"]
    return ((protocol == "enip" and action == "List Identity")
            or (protocol == "cip" and action.startswith("Get Attribute") and attrs.get("class") == "0x01")
            or (protocol == "s7comm" and action == "Read SZL" and attrs.get("szl_id", "").lower() in S7_IDENTITY_SZL)
            # Modbus Read Device Identification: MEI type 14 (0x0E)
            or (protocol == "modbus" and (action == "REPORT_SLAVE_ID" or attrs.get("mei_type") == "14")))


def _network_scans(batch: Batch, site: Site, found: Findings) -> None:
    where = places(batch, site)  # address → (site, public)
    unicast = functools.cache(lambda ip: bool(ip) and any(where[ip]))
    start_us = int(batch.interval_start.astimezone(timezone.utc).timestamp() * 1_000_000)
    ports: dict[tuple[str, str], set] = defaultdict(set)  # (source, target) → probed ports
    hosts: dict[str, set] = defaultdict(set)  # source → probed hosts
    proof: dict[str, list[dict]] = defaultdict(list)
    arp: dict[str, list[dict]] = defaultdict(list)
    for flow in flows(batch):
        if flow["proto"] == "l2" and flow["ethertype"] == ARP:
            arp[flow["orig_l2_addr"]].append(flow)
        elif _probe(flow, start_us, unicast):
            src = flow["orig_h"]
            ports[src, flow["resp_h"]].add(f"{flow['proto']}/{flow['resp_p']}")
            hosts[src].add(flow["resp_h"])
            proof[src].append(flow)
    for src, probes in proof.items():
        first = probes[0]
        mac = first["orig_l2_addr"]
        swept = len(hosts[src])
        for (who, target), probed in ports.items():
            if who == src and len(probed) >= PORT_SCAN_PORTS:
                hits = [f for f in probes if f["resp_h"] == target]
                _add(found, f"ports:{src}>{target}", hits, src_ip=src, src_mac=mac, dst_ip=target,
                     dst_mac=hits[0]["resp_l2_addr"], protocol=hits[0]["proto"],
                     details=(("scan", "port scan"), ("ports", str(len(probed)))))
        if swept >= HOST_SWEEP_HOSTS:
            _add(found, f"hosts:{src}", probes, src_ip=src, src_mac=mac, protocol=first["proto"],
                 details=(("scan", "host sweep"), ("hosts", str(swept))))
    for mac, requests in arp.items():
        sent = sum(f["orig_pkts"] for f in requests)
        if sent >= ARP_SWEEP_REQUESTS:
            _add(found, f"arp:{mac}", requests, src_mac=mac, src_ip=_address_of(batch, mac), protocol="arp",
                 details=(("scan", "ARP sweep"), ("requests", str(sent))))


def _address_of(batch: Batch, mac: str) -> str:
    """The IP address the batch's observations give ``mac`` (its ARP or DHCP binding), or ""."""
    table = batch.tables["observations"]
    for row_mac, attribute, value in zip(table.column("mac").to_pylist(), table.column("attribute").to_pylist(),
                                         table.column("value").to_pylist()):
        if row_mac == mac and attribute == "ip":
            return value
    return ""


def _add(found: Findings, key: str, flows_: list[dict], **fields) -> None:
    for flow in flows_:
        found.add("scan", key, flow["ts"], flow["ts_end"], count=0, evidence=flow["uid"], **fields)
    found.add("scan", key, flows_[0]["ts"], flows_[0]["ts_end"], **fields)  # one scan, however many probes


def _protocol_scans(batch: Batch, found: Findings) -> None:
    mac = macs(batch)
    units: dict[tuple[str, str], set[str]] = defaultdict(set)
    asked: dict[str, set[str]] = defaultdict(set)
    seen: dict[str, list[dict]] = defaultdict(list)
    for event in events(batch):
        if event["protocol"] == "modbus" and event["attrs"].get("unit"):
            units[event["orig_h"], event["resp_h"]].add(event["attrs"]["unit"])
            seen[f"modbus:{event['orig_h']}>{event['resp_h']}"].append(event)
        if _identity(event):
            asked[event["orig_h"]].add(event["resp_h"])
            seen[f"identity:{event['orig_h']}"].append(event)
    for (src, dst), walked in units.items():
        if len(walked) >= MODBUS_UNITS:
            key = f"modbus_units:{src}>{dst}"
            for event in seen[f"modbus:{src}>{dst}"]:
                found.event("scan", event, mac, key=key, details=(("scan", "Modbus unit-id scan"),
                                                                  ("units", str(len(walked)))))
    for src, targets in asked.items():
        if len(targets) >= IDENTITY_HOSTS:
            for event in seen[f"identity:{src}"]:
                found.event("scan", event, mac, key=f"identity:{src}", details=(
                    ("scan", "identity sweep"), ("hosts", str(len(targets)))))


def rules(batch: Batch, site: Site) -> list[Finding]:
    found = Findings()
    _network_scans(batch, site, found)
    _protocol_scans(batch, found)
    return found.result()
