"""The service we detect per flow against the protocol nDPI's ndpiReader detects, over the corpus
captures with nDPI results (``camera/ndpi/``, ``ndpi/``).

A flow counts when nDPI names a protocol we register a decoder for, or when we name a service of
ours that nDPI does not; it agrees when our services for that 5-tuple include nDPI's. nDPI
"master.app" labels (Modbus.UMAS, NetBIOS.SMBv1) count under the first name we know. The table is
printed (pytest -s) per protocol; the overall rate must reach MIN_RATE.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path


from sensor.decode import registry

MIN_RATE = 0.95
DIRS = ("camera/ndpi", "ndpi")
# nDPI protocol name → (our decoder, the services it names)
NDPI = {
    "RTSP": ("rtsp", {"rtsp"}), "RTP": ("rtp", {"rtp"}), "RTCP": ("rtcp", {"rtcp"}), "WSD": ("ws-discovery", {"ws-discovery"}),
    "SSDP": ("ssdp", {"ssdp"}), "HTTP": ("http", {"http"}), "TLS": ("ssl", {"ssl"}), "SSH": ("ssh", {"ssh"}),
    "SMBv1": ("smb", {"smb"}), "SMBv23": ("smb", {"smb"}), "FTP_CONTROL": ("ftp", {"ftp"}),
    "Telnet": ("telnet", {"telnet"}), "SNMP": ("snmp", {"snmp"}), "NTP": ("ntp", {"ntp"}),
    "Modbus": ("modbus", {"modbus"}), "DNP3": ("dnp3", {"dnp3_tcp", "dnp3_udp"}), "IEC60870": ("iec104", {"iec104"}),
    "S7Comm": ("s7comm", {"s7comm"}), "S7CommPlus": ("s7comm", {"s7comm-plus"}), "EthernetIP": ("enip", {"enip"}),
    "CIP": ("enip", {"cip", "enip"}), "BACnet": ("bacnet", {"bacnet"}), "FINS": ("omron_fins", {"omron_fins"}),
    "HART-IP": ("hart_ip", {"hart_ip"}), "OPC-UA": ("opcua", {"opcua"}), "MQTT": ("mqtt", {"mqtt"}),
    "BeckhoffADS": ("ads", {"ads"}), "ISO9506-1-MMS": ("s7comm", {"mms"}), "KNXnet_IP": ("knxnet_ip", {"knxnet_ip"}),
    "PROFINET_IO": ("profinet_io_cm", {"profinet_io_cm"}),
    "NetBIOS": ("netbios-ns", {"netbios-ns", "netbios-dgm", "netbios-ssn"}),
}
_FLOW = re.compile(r"^\t\d+\t(TCP|UDP) (\S+):(\d+) <?-> (\S+):(\d+) (?:\[VLAN: \d+\])?\[proto: [\d.]+/([\w.-]+)\]")


def ndpi_flows(result: Path) -> list[tuple[tuple, str]]:
    """((proto, endpoints), nDPI protocol) of each flow line of an ndpiReader result."""
    out = []
    for line in result.read_text().splitlines():
        m = _FLOW.match(line)
        if m:
            proto, a, pa, b, pb, label = m.groups()
            key = (proto.lower(), frozenset({(a.strip("[]"), int(pa)), (b.strip("[]"), int(pb))}))
            out.append((key, next((name for name in label.split(".") if name in NDPI), label.split(".")[0])))
    return out


def our_services(flows: list[dict]) -> dict[tuple, set[str]]:
    services: dict[tuple, set[str]] = {}
    for f in flows:
        key = (f["proto"], frozenset({(f["orig_h"], f["orig_p"]), (f["resp_h"], f["resp_p"])}))
        services.setdefault(key, set()).update(s for s in f["service"].split(",") if s)
    return services


def agreement(corpus: Path, analyse_path) -> dict[str, Counter]:
    registered = {p.name for p in registry.PROTOCOLS}
    ours_by_name = {name: services for name, (decoder, services) in NDPI.items() if decoder in registered}
    all_ours = set().union(*ours_by_name.values())
    table: dict[str, Counter] = {}
    for folder in DIRS:
        for result in sorted((corpus / folder / "result").glob("*.out")):
            capture = corpus / folder / result.name[: -len(".out")]
            flows = ndpi_flows(result)
            if not capture.exists() or not any(name in ours_by_name for _, name in flows):
                continue
            services = our_services(analyse_path(capture).flows)
            for key, name in flows:
                found = services.get(key, set())
                if name in ours_by_name:
                    row, agrees = name, bool(found & ours_by_name[name])
                elif found & all_ours:
                    row, agrees = f"not {name}", False  # we name a service nDPI does not see
                else:
                    continue
                table.setdefault(row, Counter())["agree" if agrees else "disagree"] += 1
    return table


def test_detected_services_agree_with_ndpi(corpus, analyse_path):
    table = agreement(corpus, analyse_path)
    total = Counter()
    print(f"\n{'nDPI protocol':16} {'flows':>6} {'agree':>6} {'rate':>7}")
    for name, counts in sorted(table.items()):
        flows = counts["agree"] + counts["disagree"]
        total.update(counts)
        print(f"{name:16} {flows:6} {counts['agree']:6} {counts['agree'] / flows:7.1%}")
    flows = total["agree"] + total["disagree"]
    print(f"{'all':16} {flows:6} {total['agree']:6} {total['agree'] / flows:7.1%}")
    assert flows and total["agree"] / flows >= MIN_RATE
