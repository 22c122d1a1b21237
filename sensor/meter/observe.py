"""Asset facts (observations) and name-service events from ARP, DHCP, DNS, mDNS, LLMNR and NBNS
(a DHCP client's OS guessed from its vendor class and request list: ``sensor.decode.dhcp_os``).

The packet pipeline hands the ``Observer`` every ARP frame and every UDP datagram to or from one of
``UDP_PORTS``, plus the distinct (MAC, IP) source pairs of all IP traffic, and calls ``flush()`` once
per batch interval to collect rows shaped like ``wire.OBSERVATIONS`` and ``wire.EVENTS``.

A name or address is tied to the sender's MAC only when the sender speaks for itself: mDNS and
LLMNR responders answer only for their own names, while a DNS server, a WINS server or a DHCP relay
answers for others (NBNS names are tied when the answered address is the sender's).
Malformed packets are counted in ``errors`` and skipped; rows beyond the per-interval caps are
counted in ``dropped``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from sensor.meter import oui
from sensor.decode import arp, dhcp, dhcp_os, dns, nbns
from sensor.decode.spec import guard
from sensor.meter.rows import Facts

MAX_EVENTS = 50_000  # per interval
MAX_IPS_PER_HOST = 4  # a MAC sourcing more IPs than this in one interval is routing for others
MAX_ANSWERS = 10  # answers listed in a DNS event

# Confidence (0..100) of each kind of fact.
CONF_ARP = 90
CONF_DHCP_ASSIGNED = 95
CONF_DHCP = 90
CONF_DHCP_REQUESTED = 50
CONF_OUI = 70
CONF_MDNS = 90
CONF_LLMNR = 85
CONF_NBNS = 85
CONF_DNS = 60
CONF_IP_SINGLE = 50
CONF_IP_SHARED = 20
CONF_ROUTER = 30
CONF_DHCP_ROUTER = 70  # the gateway a DHCP server hands out

MALFORMED = (ValueError, IndexError, struct.error)
UNSPECIFIED = frozenset({"0.0.0.0", "::", ""})
LOOPBACK = frozenset({"127.0.0.1", "::1"})  # what hosts announce for themselves on lo
NETBIOS_HOST_SUFFIXES = frozenset({0x00, 0x20})  # workstation, file server


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _mdns_host(name: str) -> str:
    return name[: -len(".local")] if name.lower().endswith(".local") else name


def _mdns_hostname(name: str) -> str:
    """Host part of an mDNS A/AAAA owner; "" for DNS-SD names ("inst._svc._tcp.local")."""
    host = _mdns_host(name)
    return "" if any(label.startswith("_") for label in host.split(".")) else host


class Observer:
    UDP_PORTS = frozenset({67, 68, 53, 5353, 5355, 137})

    def __init__(self) -> None:
        self.errors = 0  # malformed packets, cumulative
        self.dropped = 0  # events over the per-interval cap, cumulative
        self._facts = Facts()
        self._arp = guard("arp", self._arp)
        self._handlers = {  # (a parser's bug costs its packet: sensor.decode.spec.guard)
            67: guard("dhcp", self._dhcp), 68: guard("dhcp", self._dhcp), 53: guard("dns", self._dns),
            5353: guard("mdns", self._mdns), 5355: guard("llmnr", self._llmnr), 137: guard("nbns", self._nbns),
        }
        self._reset()

    def _reset(self) -> None:
        self._host_ips: dict[str, dict[str, float]] = {}  # MAC → {IP: first ts} from IP traffic
        self._events: list[dict] = []
        self._dns_pending: dict[tuple, dict] = {}  # (client, port, server, id) → query event

    # -- pipeline interface ---------------------------------------------------------------

    def packet(self, ts: float, src_mac: str, dst_mac: str, ethertype: int, src_ip: str | None,
               dst_ip: str | None, sport: int, dport: int, payload: bytes) -> None:
        self._vendor(ts, src_mac)
        self._vendor(ts, dst_mac)
        try:
            if ethertype == 0x0806:
                self._arp(ts, payload)
                return
            handler = self._handlers.get(dport) or self._handlers.get(sport)
            if handler is not None:
                handler(ts, src_mac, src_ip or "", dst_ip or "", sport, dport, payload)
        except MALFORMED:
            self.errors += 1

    def ip_pairs(self, ts: float, pairs: Iterable[tuple[str, str]]) -> None:
        for mac, ip in pairs:
            if ip in UNSPECIFIED or not _is_unicast(mac):
                continue
            self._vendor(ts, mac)
            ips = self._host_ips.setdefault(mac, {})
            if ip in ips:
                ips[ip] = min(ips[ip], ts)
            elif len(ips) <= MAX_IPS_PER_HOST:  # one more than allowed marks a router
                ips[ip] = ts

    def flush(self) -> tuple[list[dict], list[dict]]:
        self._host_ip_facts()
        observations = self._facts.flush()
        events = self._events
        for event in events:
            event["ts"] = event["ts_end"] = _utc(event["ts"])
            event["count"] = 1
        self._reset()
        return observations, events

    # -- row builders ---------------------------------------------------------------------

    def _event(self, ts: float, orig_h: str, resp_h: str, resp_p: int, protocol: str,
               action: str, attrs: dict[str, str]) -> dict:
        event = {"ts": ts, "uid": "", "orig_h": orig_h, "resp_h": resp_h, "resp_p": resp_p,
                 "protocol": protocol, "action": action, "status": "",
                 "attrs": {k: v for k, v in attrs.items() if v}}
        if len(self._events) < MAX_EVENTS:
            self._events.append(event)
        else:
            self.dropped += 1
        return event

    def _vendor(self, ts: float, mac: str) -> None:
        self._facts.add(ts, mac, "", "vendor", oui.vendor(mac) or "", "oui", CONF_OUI)

    def _host_ip_facts(self) -> None:
        for mac, ips in self._host_ips.items():
            if len(ips) > MAX_IPS_PER_HOST:
                self._facts.add(min(ips.values()), mac, "", "role", "router", "ip", CONF_ROUTER)
                continue
            confidence = CONF_IP_SINGLE if len(ips) == 1 else CONF_IP_SHARED
            for ip, ts in ips.items():
                self._facts.add(ts, mac, ip, "ip", ip, "ip", confidence)

    # -- protocols ------------------------------------------------------------------------

    def _arp(self, ts: float, payload: bytes) -> None:
        packet = arp.parse(payload)
        if packet is None or packet.sender_ip in UNSPECIFIED:  # other protocol, or an ARP probe
            return
        self._vendor(ts, packet.sender_mac)
        if _is_unicast(packet.sender_mac):
            self._facts.add(ts, packet.sender_mac, packet.sender_ip, "ip", packet.sender_ip, "arp", CONF_ARP)

    def _dhcp(self, ts, src_mac, src_ip, dst_ip, sport, dport, payload) -> None:
        msg = dhcp.parse(payload)
        client = msg.chaddr
        client_ip = "" if msg.ciaddr in UNSPECIFIED else msg.ciaddr
        assigned = "" if msg.yiaddr in UNSPECIFIED else msg.yiaddr
        requested = msg.address(dhcp.REQUESTED_IP)
        hostname, fqdn = msg.text(dhcp.HOSTNAME), msg.fqdn
        from_client = msg.op == 1
        vendor_class = msg.text(dhcp.VENDOR_CLASS) if from_client else ""
        params = msg.param_list if from_client else ""
        lease = msg.lease_time
        self._event(ts, src_ip, dst_ip, dport, "dhcp", msg.message_type, {
            "mac": client, "hostname": hostname, "client_fqdn": fqdn, "vendor_class": vendor_class,
            "param_list": params, "requested_addr": requested, "assigned_addr": assigned,
            "client_addr": client_ip, "server_id": msg.address(dhcp.SERVER_ID),
            "domain": msg.text(dhcp.DOMAIN), "message": msg.text(dhcp.MESSAGE),
            "lease_time": "" if lease is None else str(lease), "trans_id": str(msg.xid),
        })
        if (gateway := msg.address(dhcp.ROUTER)) and not from_client:
            self._facts.add(ts, "", gateway, "role", "router", "dhcp", CONF_DHCP_ROUTER)
        if not client:
            return
        self._vendor(ts, client)  # names are facts about the client MAC; addresses come next
        self._facts.add(ts, client, "", "hostname", hostname, "dhcp", CONF_DHCP)
        self._facts.add(ts, client, "", "fqdn", fqdn, "dhcp", CONF_DHCP)
        self._facts.add(ts, client, "", "dhcp_vendor_class", vendor_class, "dhcp", CONF_DHCP)
        self._facts.add(ts, client, "", "dhcp_fingerprint", params, "dhcp", CONF_DHCP)
        if from_client:
            self._facts.add(ts, client, requested, "requested_ip", requested, "dhcp", CONF_DHCP_REQUESTED)
            for os, confidence in dhcp_os.guesses(vendor_class, params):
                self._facts.add(ts, client, "", "os", os, "dhcp", confidence)
        if msg.message_type in ("ACK", "BOOTREPLY") and assigned:
            self._facts.add(ts, client, assigned, "ip", assigned, "dhcp", CONF_DHCP_ASSIGNED)

    def _dns(self, ts, src_mac, src_ip, dst_ip, sport, dport, payload) -> None:
        msg = dns.parse(payload)
        question = msg.questions[0] if msg.questions else dns.Question("", 0, 0)
        if not msg.is_response:
            event = self._event(ts, src_ip, dst_ip, dport, "dns", "query", _query_attrs(msg, question))
            if len(self._dns_pending) < MAX_EVENTS:
                self._dns_pending[(src_ip, sport, dst_ip, msg.id)] = event
            return
        event = self._dns_pending.pop((dst_ip, dport, src_ip, msg.id), None)
        if event is None:  # query not seen in this interval: the response stands for it
            event = self._event(ts, dst_ip, src_ip, sport, "dns", "query", _query_attrs(msg, question))
        else:
            event["attrs"]["rtt"] = f"{max(ts - event['ts'], 0.0):.6f}"
        rcode = dns.RCODE_NAMES.get(msg.rcode, str(msg.rcode))
        event["status"] = event["attrs"]["rcode"] = rcode
        answers = [r.value for r in msg.answers if r.value][:MAX_ANSWERS]
        if answers:
            event["attrs"]["answers"] = ",".join(answers)
        for record in msg.answers:
            self._name_record(ts, "", record, "dns_name", "dns", CONF_DNS, str.lower)

    def _mdns(self, ts, src_mac, src_ip, dst_ip, sport, dport, payload) -> None:
        msg = dns.parse(payload)
        if not msg.is_response:
            return
        for record in msg.answers + msg.additional:
            self._name_record(ts, src_mac, record, "hostname", "mdns", CONF_MDNS, _mdns_hostname)
            if record.rtype != dns.PTR:
                continue
            service, instance = _mdns_service(record)
            mac = src_mac if src_ip else ""
            self._facts.add(ts, mac, src_ip, "mdns_service", service, "mdns", CONF_MDNS)
            self._facts.add(ts, mac, src_ip, "mdns_instance", instance, "mdns", CONF_MDNS)

    def _llmnr(self, ts, src_mac, src_ip, dst_ip, sport, dport, payload) -> None:
        msg = dns.parse(payload)
        if msg.is_response and msg.rcode == 0:
            for record in msg.answers:
                self._name_record(ts, src_mac, record, "hostname", "llmnr", CONF_LLMNR, str)

    def _nbns(self, ts, src_mac, src_ip, dst_ip, sport, dport, payload) -> None:
        msg = nbns.parse(payload)
        claims = msg.opcode in ("REGISTRATION", "REFRESH") and not msg.is_response
        answers = msg.is_response and msg.rcode == 0 and msg.opcode == "QUERY"
        if not (claims or answers):
            return
        for name in msg.names:
            ip = name.ip or src_ip  # node-status names belong to the responder
            mac = src_mac if ip == src_ip else ""
            if name.group:
                self._facts.add(ts, mac, ip, "workgroup", name.name, "nbns", CONF_NBNS)
            elif name.suffix in NETBIOS_HOST_SUFFIXES:
                self._facts.add(ts, mac, ip, "hostname", name.name, "nbns", CONF_NBNS)

    def _name_record(self, ts: float, mac: str, record: dns.Record,
                     attribute: str, source: str, confidence: int,
                     shape: Callable[[str], str]) -> None:
        """A/AAAA (name → address) and reverse PTR (address → name) records as naming facts."""
        if record.rtype in (dns.A, dns.AAAA) and record.value:
            ip, name = record.value, record.name
        elif record.rtype == dns.PTR and (reverse := dns.reverse_pointer_ip(record.name)):
            ip, name = reverse, record.value
        else:
            return
        if ip not in LOOPBACK:
            self._facts.add(ts, mac, ip, attribute, shape(name), source, confidence)


def _is_unicast(mac: str) -> bool:
    """Unicast, universally or locally administered (a device, not a group address)."""
    try:
        return int(mac[:2], 16) & 0x01 == 0 and mac != "00:00:00:00:00:00"
    except ValueError:
        return False


def _query_attrs(msg: dns.Message, question: dns.Question) -> dict[str, str]:
    return {"qname": question.name.lower(), "qtype": dns.type_name(question.qtype),
            "trans_id": str(msg.id)}


def _mdns_service(record: dns.Record) -> tuple[str, str]:
    """A DNS-SD PTR record → (service type, instance name), e.g. ("_ipp._tcp", "Office Printer")."""
    if record.name.lower() == "_services._dns-sd._udp.local":
        return _mdns_host(record.value), ""
    if not record.name.startswith("_"):
        return "", ""
    suffix = "." + record.name
    instance = record.value[: -len(suffix)] if record.value.endswith(suffix) else ""
    return _mdns_host(record.name), instance
