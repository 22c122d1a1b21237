"""The simulator's file, re-read with dpkt: exact counts, determinism, devices, TCP lifecycles,
protocol content, and the Observer finding what was simulated."""

from __future__ import annotations

import hashlib
import socket
from collections import Counter, defaultdict

import dpkt
import pytest

from sensor.meter.observe import Observer
from sensor.simulate import CAMERA_SITE_PPS, EPOCH, NOMINAL_PPS, SCAN_PORTS, write_pcap

SIZE = 20_000
PORTS = {502: "modbus", 102: "s7comm", 44818: "enip", 9600: "fins", 5000: "slmp", 47808: "bacnet",
         554: "rtsp", 23: "telnet", 53: "dns",
         67: "dhcp", 68: "dhcp", 3702: "wsdiscovery", 80: "http", 443: "tls", 445: "smb", 3389: "rdp",
         1900: "ssdp"}


def read(path) -> list[tuple[float, dpkt.ethernet.Ethernet]]:
    with open(path, "rb") as f:
        return [(ts, dpkt.ethernet.Ethernet(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def label(eth: dpkt.ethernet.Ethernet) -> str:
    if isinstance(eth.data, dpkt.arp.ARP):
        return "arp"
    if eth.type == 0x8892:
        return "profinet"
    l4 = eth.data.data
    return PORTS.get(l4.dport) or PORTS.get(l4.sport) or ("scan" if isinstance(l4, dpkt.tcp.TCP) else "rtp")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "plant.pcap"
    summary = write_pcap(path, SIZE, seed=7)
    return path, summary, read(path)


def test_counts_in_summary_are_true(capture):
    path, summary, frames = capture
    assert summary["packets"] == len(frames) == SIZE
    assert summary["file_bytes"] == path.stat().st_size
    with open(path, "rb") as f:
        assert summary["bytes"] == sum(len(buf) for _, buf in dpkt.pcap.Reader(f))
    assert summary["protocols"] == dict(sorted(Counter(label(eth) for _, eth in frames).items()))
    transports = Counter("arp" if isinstance(e.data, dpkt.arp.ARP) else "other" if isinstance(e.data, bytes) else
                         "tcp" if isinstance(e.data.data, dpkt.tcp.TCP) else "udp" for _, e in frames)
    assert summary["transports"] == dict(sorted(transports.items()))
    assert set(summary["protocols"]) == {"arp", "dhcp", "dns", "enip", "modbus", "rtp", "rtsp", "s7comm",
                                         "telnet", "wsdiscovery", "http", "tls", "smb", "rdp", "scan",
                                         "fins", "slmp", "bacnet", "profinet", "ssdp"}


def test_time_runs_forward_over_the_expected_span(capture):
    _, summary, frames = capture
    stamps = [ts for ts, _ in frames]
    assert stamps == sorted(stamps)
    assert stamps[0] == summary["start"] == EPOCH
    assert stamps[-1] == pytest.approx(summary["end"])
    assert 0.8 < (stamps[-1] - stamps[0]) / (SIZE / NOMINAL_PPS) < 1.25
    minutes = Counter(int(ts - EPOCH) // 60 for ts in stamps)
    assert len(minutes) >= 2 and min(minutes.values()) > 1_000  # batches by minute are meaningful


def test_deterministic_by_seed(tmp_path, capture):
    path, summary, _ = capture
    again = write_pcap(tmp_path / "again.pcap", SIZE, seed=7)
    other = write_pcap(tmp_path / "other.pcap", SIZE, seed=8)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "again.pcap") == digest(path)
    assert again == {**summary, "path": str(tmp_path / "again.pcap")}
    assert digest(tmp_path / "other.pcap") != digest(path)
    assert [d["mac"] for d in other["devices"]] != [d["mac"] for d in summary["devices"]]


def test_every_device_appears_with_a_real_vendor(capture):
    _, summary, frames = capture
    sources = {(e.src.hex(":"), bytes(e.data.spa if isinstance(e.data, dpkt.arp.ARP) else e.data.src))
               for _, e in frames if not isinstance(e.data, bytes)}  # (PROFINET frames have no IP)
    roles = Counter(d["role"] for d in summary["devices"])
    assert roles["plc"] >= 4 and roles["camera"] >= 4 and roles["hmi"] >= 2
    assert {"router", "server", "engineering_workstation", "nvr", "unknown"} <= set(roles)
    for device in summary["devices"]:
        assert (device["mac"], bytes(map(int, device["ip"].split(".")))) in sources, device["name"]
        assert device["vendor"], device["name"]
    vendors = " ".join(d["vendor"] for d in summary["devices"])
    for name in ("Siemens", "Rockwell", "Telem", "Mitsubishi", "Axis", "Hikvision", "Panasonic"):
        assert name in vendors


def test_tcp_connections_open_and_close_with_valid_checksums(capture):
    _, _, frames = capture
    flows = defaultdict(list)
    for _, eth in frames:
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP):
            assert dpkt.in_cksum(bytes(ip)[:20]) == 0
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
            tcp = bytes(ip)[20:ip.len]
            pseudo = ip.src + ip.dst + b"\x00\x06" + len(tcp).to_bytes(2, "big")
            assert dpkt.in_cksum(pseudo + tcp) == 0
            flows[frozenset([(ip.src, ip.data.sport), (ip.dst, ip.data.dport)])].append(ip.data.flags)
    syn, ack, fin, rst = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST
    probes = [flags for flags in flows.values() if any(f & rst for f in flags)]  # the port scan's
    assert len(probes) == len(SCAN_PORTS) + 1 and all(flags[0] == syn and len(flags) <= 3 for flags in probes)
    flows = {k: flags for k, flags in flows.items() if flags not in probes}
    assert len(flows) >= 15
    for flags in flows.values():
        assert flags[:3] == [syn, syn | ack, ack]
        assert [f for f in flags if f & fin] == [fin | ack, fin | ack]
        assert flags[-1] == ack


@pytest.mark.parametrize("size", [1, 9, 60, 500])
def test_tiny_captures_are_exact_and_well_formed(tmp_path, size):
    summary = write_pcap(tmp_path / "tiny.pcap", size, seed=2)
    frames = read(tmp_path / "tiny.pcap")
    assert summary["packets"] == len(frames) == size
    assert [ts for ts, _ in frames] == sorted(ts for ts, _ in frames)
    tcp_flags = defaultdict(list)
    for _, eth in frames:
        if isinstance(eth.data, dpkt.ip.IP) and isinstance(eth.data.data, dpkt.tcp.TCP):
            tcp_flags[frozenset([eth.data.data.sport, eth.data.data.dport])].append(eth.data.data.flags)
    if size >= 500:  # polling has started: even cut short, every connection is closed
        assert len(tcp_flags) >= 5
    for flags in tcp_flags.values():  # connections; the port scan's probes are answered or reset
        assert flags[0] == dpkt.tcp.TH_SYN
        assert sum(bool(f & dpkt.tcp.TH_FIN) for f in flags) == 2 or any(f & dpkt.tcp.TH_RST for f in flags)


def test_bad_size_is_rejected(tmp_path):
    with pytest.raises(ValueError):
        write_pcap(tmp_path / "x.pcap", 0)


def _payloads(frames, port: int) -> list[tuple[bytes, bytes]]:
    """(source IP, payload) of TCP segments to ``port`` that carry data."""
    return [(e.data.src, bytes(e.data.data.data)) for _, e in frames
            if isinstance(e.data, dpkt.ip.IP) and isinstance(e.data.data, dpkt.tcp.TCP)
            and e.data.data.dport == port and e.data.data.data]


def test_industrial_and_camera_content(capture):
    _, summary, frames = capture
    ip_of = {d["name"]: bytes(map(int, d["ip"].split("."))) for d in summary["devices"]}
    modbus = _payloads(frames, 502)
    functions = Counter((src, pdu[7]) for src, pdu in modbus)
    assert functions[ip_of["hmi-1"], 3] > 100  # polling: read holding registers
    assert functions[ip_of["eng-ws-1"], 16] == functions[ip_of["eng-ws-1"], 6] == 1  # the risky writes
    assert all(int.from_bytes(pdu[4:6], "big") == len(pdu) - 6 for _, pdu in modbus)  # MBAP length
    s7 = [pdu for _, pdu in _payloads(frames, 102) if pdu[5:7] == b"\xf0\x80" and pdu[7] == 0x32]
    assert sum(pdu[17] == 0x29 for pdu in s7) == 1  # PLC STOP job
    assert sum(pdu[17] == 0x04 for pdu in s7) > 50  # read var jobs
    rtsp = [p for _, p in _payloads(frames, 554)]
    assert sum(p.startswith(b"DESCRIBE") for p in rtsp) == 10  # 5 cameras: challenged, then authorised
    replies = b"".join(bytes(e.data.data.data) for _, e in frames if isinstance(e.data, dpkt.ip.IP)
                       and isinstance(e.data.data, dpkt.tcp.TCP) and e.data.data.sport == 554)
    assert replies.count(b"RTSP/1.0 401 Unauthorized") == 5
    assert b"m=video 0 RTP/AVP 96" in replies
    telnet = b"".join(p for _, p in _payloads(frames, 23))
    assert b"admin\r\n" in telnet


def test_observer_finds_the_simulated_assets(capture):
    _, summary, frames = capture
    observer = Observer()
    for ts, eth in frames:
        src, dst = eth.src.hex(":"), eth.dst.hex(":")
        if isinstance(eth.data, dpkt.arp.ARP):
            observer.packet(ts, src, dst, 0x0806, None, None, 0, 0, bytes(eth.data))
        elif isinstance(eth.data, dpkt.ip.IP) and isinstance(eth.data.data, dpkt.udp.UDP):
            ip, udp = eth.data, eth.data.data
            if {udp.sport, udp.dport} & Observer.UDP_PORTS:
                observer.packet(ts, src, dst, 0x0800, ".".join(map(str, ip.src)), ".".join(map(str, ip.dst)),
                                udp.sport, udp.dport, bytes(udp.data))
    rows, events = observer.flush()
    assert observer.errors == 0
    facts = {(r["mac"], r["attribute"], r["value"]) for r in rows}
    for device in summary["devices"]:
        assert (device["mac"], "ip", device["ip"]) in facts
        assert (device["mac"], "vendor", device["vendor"]) in facts
    dhcp_names = {r["value"] for r in rows if r["attribute"] == "hostname" and r["source"] == "dhcp"}
    assert {"cam-axis-1", "hmi-3", "DESKTOP-7Q2K9LM"} <= dhcp_names
    dns = [e for e in events if e["protocol"] == "dns"]
    assert {e["status"] for e in dns} == {"NOERROR", "NXDOMAIN"}
    assert {"DISCOVER", "OFFER", "REQUEST", "ACK"} == {e["action"] for e in events if e["protocol"] == "dhcp"}


def test_camera_heavy_site(tmp_path):
    """16 cameras at about 2 Mbit/s each carry nearly all the bytes; still deterministic by seed."""
    summary = write_pcap(tmp_path / "cams.pcap", 30_000, seed=2, cameras=True)
    again = write_pcap(tmp_path / "again.pcap", 30_000, seed=2, cameras=True)
    assert (tmp_path / "cams.pcap").read_bytes() == (tmp_path / "again.pcap").read_bytes()
    assert again == {**summary, "path": str(tmp_path / "again.pcap")}
    assert Counter(d["role"] for d in summary["devices"])["camera"] == 16
    seconds = summary["end"] - summary["start"]
    assert 0.8 < seconds / (30_000 / CAMERA_SITE_PPS) < 1.25
    assert 25 < summary["bytes"] * 8 / seconds / 1e6 < 40  # Mbit/s
    assert summary["protocols"]["rtp"] > 0.9 * summary["packets"]


def test_incidents_of_every_kind_follow_the_learning_half(capture):
    from core.detect.kinds import KINDS
    from sensor.simulate import INTERNET, LEARN_FRACTION

    _, summary, frames = capture
    incidents = summary["incidents"]
    learned_until = summary["start"] + LEARN_FRACTION * (summary["end"] - summary["start"])
    assert all(learned_until < i["ts"] < summary["end"] for i in incidents)
    assert [i["ts"] for i in incidents] == sorted(i["ts"] for i in incidents)
    # sensor_silent is the core's to see: a sensor's capture cannot show its own silence; a plant's
    # batches never hold more new things than detection's budget (new_flood)
    assert {k for i in incidents for k in i["kinds"]} == set(KINDS) - {"sensor_silent", "new_flood"}
    known = {d["ip"] for d in summary["devices"]} | set(INTERNET.values())
    assert all(i["src"] in known and i["dst"] in known | {""} for i in incidents)
    # nothing of the incidents before their time: the laptop is silent during the learning half
    laptop = next(d for d in summary["devices"] if d["role"] == "unknown")
    first = min(ts for ts, e in frames if e.src.hex(":") == laptop["mac"])
    assert first == pytest.approx(incidents[0]["ts"], abs=0.01)


def test_a_safe_plant_has_no_incidents(tmp_path):
    path = tmp_path / "safe.pcap"
    summary = write_pcap(path, 5_000, seed=7, risky=False)
    assert summary["incidents"] == [] and "unknown" not in {d["role"] for d in summary["devices"]}
    assert not {"scan", "rdp", "smb"} & set(summary["protocols"])
    # its web traffic is the NVR and the engineering workstation reading cameras' identities, nothing else
    role = {d["ip"]: d["role"] for d in summary["devices"]}
    web = {(role[socket.inet_ntoa(e.data.src)], role[socket.inet_ntoa(e.data.dst)]) for _, e in read(path)
           if label(e) in ("http", "tls") and e.data.data.dport in (80, 443)}
    assert web == {("nvr", "camera"), ("engineering_workstation", "camera")}
