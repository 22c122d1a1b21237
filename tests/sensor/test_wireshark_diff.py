"""Our decoders against Wireshark's dissectors (tshark through pyshark, which runs the local tshark
offline) on sampled corpus packets.

Per protocol, tshark reads each capture once with a display filter that selects the packets to
compare (up to SAMPLE per protocol, first ones first; EXCLUDED lists what neither side compares).
A tshark packet is paired with the events of its flow's hosts by time: an answered event stands
at its request packet (time ``ts``) and its response packet (``ts`` + ``rtt``); an event without
a round-trip time stands at its one packet, either side's. For each field both decode, a packet
agrees when the set of values tshark shows equals the set our paired events give for that side;
a packet tshark decodes and we have no event for disagrees ("missed"). Fields whose values live
on one side (a request's reference number, ROSCTR) are compared on that side only. The table
(pytest -s) shows packets and agreement per field; each field must reach MIN_RATE.

Known differences, left in the counts: a CIP Unconnected Send response is the embedded service's
reply, whose service Wireshark shows and we do not decode; an RTSP session's last requests
(TEARDOWN) come after its interleaved RTP was sampled and the flow given up. Not compared:
IEC 104 activation terminations (recorded on the command's event, which stands at its
confirmation) and ADS device notifications (cyclic values, not events).
"""

from __future__ import annotations

import functools
import multiprocessing
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sensor.decode import ads, bacnet, dnp3, enip, iec104, modbus, s7comm
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_intervals

pyshark = pytest.importorskip("pyshark")

MIN_RATE = 0.95
SAMPLE = 200  # packets per protocol
# packets neither side compares: what Wireshark finds malformed, TCP retransmissions (decoded once
# by us, again by Wireshark) and IP-fragmented datagrams (the sensor does not reassemble them)
EXCLUDED = "not _ws.malformed and not tcp.analysis.retransmission and not ip.fragment and not ipv6.fragment"
BOTH, REQ, RESP = ("req", "resp"), ("req",), ("resp",)
Ours = Callable[[dict, str], object]  # (event, side) → our value, None when the event lacks it


@dataclass(frozen=True)
class Field:
    row: str
    tshark: str
    ours: Ours
    sides: tuple[str, ...] = BOTH
    number: bool = False  # compare as integers (Wireshark writes some in hex)


@dataclass(frozen=True)
class Case:
    protocols: frozenset[str]  # our event protocols
    display_filter: str
    captures: tuple[str, ...]
    fields: tuple[Field, ...]


def attr(name: str) -> Ours:
    return lambda event, side: event["attrs"].get(name)


def action(names: dict[str, int] | None = None) -> Ours:
    return lambda event, side: event["action"] if names is None else names.get(event["action"])


def codes(table: dict[int, str]) -> dict[str, int]:
    return {name: code for code, name in table.items()}


def modbus_code(event: dict, side: str) -> int | None:
    name = event["action"]
    return int(name[8:]) & 0x7F if name.startswith("unknown-") else codes(modbus.FUNCTIONS).get(name)


def bacnet_service(confirmed: bool) -> Ours:
    """The service code of a confirmed service (also named by its ack or error) or an unconfirmed one."""
    names = bacnet.CONFIRMED if confirmed else bacnet.UNCONFIRMED

    def ours(event: dict, side: str) -> int | None:
        unconfirmed = event["attrs"].get("pdu_type") == "UNCONFIRMED_REQUEST"
        return names.index(event["action"]) if event["action"] in names and unconfirmed != confirmed else None

    return ours


def by_side(request: Ours, response: Ours) -> Ours:
    """A value read from the request's fields or the response's (falling back to the request's)."""
    return lambda event, side: request(event, side) if side == "req" else response(event, side) or request(event, side)


S7_ROSCTR = {name: code for code, name in s7comm.ROSCTR.items()}
DNP3_FUNCTIONS, IEC104_TYPES, IEC104_CAUSES = codes(dnp3.FUNCTIONS), codes(iec104.TYPES), codes(iec104.CAUSES)

CASES = (
    Case(frozenset({"modbus"}), "modbus",
         ("icsnpp/modbus/traces/modbus_example.pcap", "ndpi/modbus.pcap", "zeek/Traces/modbus/modbusSmall.pcap"),
         (Field("modbus function", "modbus.func_code", modbus_code, number=True),
          Field("modbus unit id", "mbtcp.unit_id", attr("unit"), number=True),
          Field("modbus reference", "modbus.reference_num", attr("address"), number=True))),
    Case(frozenset({"s7comm"}), "s7comm",
         ("icsnpp/s7comm/traces/snap7.pcap",
          "ics-pcap/S7/s7comm_downloading_block_db1/s7comm_downloading_block_db1.pcap",
          "ics-pcap/S7/s7comm_varservice_libnodavedemo/s7comm_varservice_libnodavedemo.pcap"),
         (Field("s7comm rosctr", "s7comm.header.rosctr", lambda e, side: S7_ROSCTR.get(e["attrs"].get("rosctr")),
                REQ, number=True),
          Field("s7comm function", "s7comm.param.func", action(codes(s7comm.FUNCTIONS)), number=True))),
    Case(frozenset({"enip", "cip"}), "enip",
         ("icsnpp/enip/traces/enip_cip_example.pcap", "ndpi/ethernetIP.pcap",
          "ics-pcap/EIP/EIP-FirmwareChange/EIP-FirmwareChange.pcap"),
         (Field("enip command", "enip.command",
                lambda e, side: codes(enip.COMMANDS).get(e["attrs"].get("enip_command") or e["action"]), number=True),
          Field("cip service", "cip.sc", attr("service"), number=True))),
    Case(frozenset({"bacnet"}), "bacapp",
         ("icsnpp/bacnet/traces/bacnet_services.pcap", "icsnpp/bacnet/traces/bacnet_error_reject_abort.pcap",
          "ndpi/bacnet.pcap"),
         (Field("bacapp confirmed service", "bacapp.confirmed_service", bacnet_service(True), number=True),
          Field("bacapp unconfirmed service", "bacapp.unconfirmed_service", bacnet_service(False),
                number=True))),
    Case(frozenset({"dnp3"}), "dnp3.al.func",
         ("icsnpp/dnp3/traces/dnp3_example.pcap", "zeek/Traces/dnp3/dnp3.pcap", "ndpi/dnp3.pcap"),
         (Field("dnp3 function", "dnp3.al.func",
                by_side(action(DNP3_FUNCTIONS), lambda e, side: DNP3_FUNCTIONS.get(e["attrs"].get("reply"))),
                number=True),)),
    Case(frozenset({"iec104"}), "iec60870_asdu and not iec60870_asdu.causetx == 10",
         ("iti/IEC60870-5-104/090813_diverse.pcap", "ndpi/IEC104.pcap", "ndpi/iec60780-5-104.pcap"),
         (Field("iec104 type id", "iec60870_asdu.typeid", action(IEC104_TYPES), number=True),
          Field("iec104 cause", "iec60870_asdu.causetx",
                by_side(lambda e, side: IEC104_CAUSES.get(e["attrs"].get("cot")),
                        lambda e, side: IEC104_CAUSES.get(e["attrs"].get("reply"))), number=True))),
    Case(frozenset({"rtsp"}), "rtsp.request or rtsp.response",
         ("camera/rtspstreampcapparser/rtsp.pcap", "camera/ndpi/rtsp.pcap", "camera/ndpi/rtsp_setup_http.pcapng"),
         (Field("rtsp method", "rtsp.method", action(), REQ),
          Field("rtsp status", "rtsp.status", lambda e, side: e["status"], RESP, number=True))),
    Case(frozenset({"http"}), "http.request",
         ("zeek/Traces/http/get.pcap", "zeek/Traces/http/multipart.pcap",
          "zeek/Traces/http/zeek-image-1080-80-x.pcapng", "nttcom/Bacnet/Traces/http.pcap",
          "iti/MELSEC/melsoft_UDP_unclean_1.pcap"),
         (Field("http method", "http.request.method", action(), REQ),
          Field("http host", "http.host", attr("host"), REQ),
          Field("http uri", "http.request.uri", attr("uri"), REQ))),
    Case(frozenset({"ssl"}), "tls.handshake.type == 1",
         ("zeek/Traces/tls/tls-conn-with-extensions.pcap", "zeek/Traces/tls/tls1.2.pcap"),
         (Field("tls sni", "tls.handshake.extensions_server_name", attr("server_name"), REQ),)),
    Case(frozenset({"ssh"}), "ssh.protocol and tcp.dstport == 22",
         ("zeek/Traces/ssh/ssh_kex_curve25519.pcap",),
         (Field("ssh client version", "ssh.protocol", attr("client"), REQ),)),
    Case(frozenset({"dns"}), "dns and udp.port == 53",
         ("zeek/Traces/dns53.pcap", "zeek/Traces/ipv6-fragmented-dns.pcap", "zeek/Traces/modbus/modbusSmall.pcap"),
         (Field("dns query name", "dns.qry.name", attr("qname")),)),
    Case(frozenset({"mqtt"}), "mqtt.topic",
         ("zeek/Traces/mqtt.pcap", "ndpi/mqtt.pcap", "ndpi/coap_mqtt.pcap"),
         (Field("mqtt topic", "mqtt.topic", lambda e, side: e["attrs"].get("topic") or e["attrs"].get("topics")),)),
    Case(frozenset({"ads"}), "ams and not ams.cmdid == 8",  # device notifications are not events
         ("ndpi/beckhoff_ads.pcapng", "iti/beckoff/beckofflink.pcapng"),
         (Field("ads command", "ams.cmdid", action(codes(ads.COMMANDS)), number=True),)),
    Case(frozenset({"dhcp"}), "dhcp",
         ("zeek/Traces/dhcp/dhcp.pcap", "zeek/Traces/dhcp/dhcp_discover_param_req_and_client_id.pcap",
          "icsnpp/profinet-io-cm/traces/profinet_io_cm_mixed_1.pcap"),
         (Field("dhcp hostname", "dhcp.option.hostname", attr("hostname")),)),
)


@functools.cache
def our_events(path: Path) -> dict[tuple[int, str], list[tuple[dict, str]]]:
    """Our events (app layer and observer) by (time in µs, address of either host): [(event, side)].
    Either host may send a request (a PLC asks its engineering station for the blocks it downloads)."""
    index: dict[tuple[int, str], list[tuple[dict, str]]] = defaultdict(list)
    for iv in iter_intervals([path], observer=Observer()):
        for event in iv.events:
            ts = round(event["ts"].timestamp() * 1e6)
            rtt = event["attrs"].get("rtt")
            # without a round-trip time, one packet: a request, or a response that stands alone
            answer = ts if rtt is None else ts + round(float(rtt) * 1e6)
            views = [(ts, "req"), (answer, "resp")]
            for t, side in views:
                for host in {event["orig_h"], event["resp_h"]}:
                    index[t, host].append((event, side))
    return index


def _micros(timestamp: str) -> int:
    seconds, _, fraction = timestamp.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def tshark_packets(path: Path, display_filter: str, fields: tuple[Field, ...], limit: int):
    """(time in µs, sender address, {tshark field: [values]}) of the first ``limit`` packets."""
    layers = {f.tshark: f.tshark.split(".")[0] for f in fields}
    capture = pyshark.FileCapture(str(path), display_filter=f"({display_filter}) and {EXCLUDED}", keep_packets=False)
    stopped = False  # we stop reading early; tshark may then exit non-zero, which is no crash
    try:
        for n, packet in enumerate(capture):
            if n >= limit:
                stopped = True
                break
            net = packet.ip if hasattr(packet, "ip") else packet.ipv6
            values = {}
            for name, layer_name in layers.items():
                found = [layer.get_field(name) for layer in packet.get_multiple_layers(layer_name)]
                values[name] = [v.show for field in found if field is not None for v in field.all_fields]
            yield _micros(packet.sniff_timestamp), net.src, values
    except pyshark.capture.capture.TSharkCrashException:
        if not stopped:
            raise
    finally:
        try:
            capture.close()
        except pyshark.capture.capture.TSharkCrashException:
            if not stopped:
                raise


def _normal(value: object, number: bool) -> str:
    text = str(value)
    return str(int(text, 0)) if number and text.lstrip("-").isalnum() and text[:1].isdigit() else text


def tshark_sample(path: Path, case, limit: int) -> list:
    """``tshark_packets`` read whole, tshark run once more if it crashed (it exited 255 mid-file once,
    on a machine loaded by a full test run; alone it reads the same file)."""
    try:
        return list(tshark_packets(path, case.display_filter, case.fields, limit))
    except pyshark.capture.capture.TSharkCrashException:
        return list(tshark_packets(path, case.display_filter, case.fields, limit))


def compare(corpus: Path) -> dict[str, Counter]:
    table: dict[str, Counter] = {}
    for case in CASES:
        captures = [corpus / c for c in case.captures if (corpus / c).exists()]
        for path in captures:
            index = our_events(path)
            for ts, sender, values in tshark_sample(path, case, SAMPLE // len(captures)):
                paired = index.get((ts, sender)) or index.get((ts - 1, sender)) or index.get((ts + 1, sender)) or []
                paired = [(e, side) for e, side in paired if e["protocol"] in case.protocols]
                for field in case.fields:
                    theirs = {_normal(v, field.number) for v in values[field.tshark]}
                    if not theirs:
                        continue
                    counts = table.setdefault(field.row, Counter())
                    sides = [(e, side) for e, side in paired if side in field.sides]
                    if not paired:
                        counts["missed"] += 1
                        continue
                    if not sides:
                        continue  # a packet of the side this field is not compared on
                    ours = {_normal(v, field.number) for e, side in sides if (v := field.ours(e, side)) is not None}
                    counts["agree" if ours == theirs else "disagree"] += 1
    return table


def test_decoded_fields_agree_with_wireshark(corpus):
    # pyshark drives tshark through asyncio; a fresh process keeps it clear of the event loop
    # Playwright's sync API leaves in this one.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        table = pool.submit(compare, corpus).result()
    print(f"\n{'field':28} {'packets':>8} {'agree':>6} {'missed':>7} {'rate':>7}")
    rates = {}
    for row, counts in table.items():
        packets = sum(counts.values())
        rates[row] = counts["agree"] / packets
        print(f"{row:28} {packets:8} {counts['agree']:6} {counts['missed']:7} {rates[row]:7.1%}")
    assert len(rates) == sum(len(case.fields) for case in CASES)
    assert all(rate >= MIN_RATE for rate in rates.values()), rates
