"""Deterministic synthetic plant traffic, written as a classic pcap, for demos, tests and benchmarks.

The plant: PLCs polled by HMIs over Modbus/TCP, S7comm, EtherNet/IP and FINS, each stating its
identity when asked (see S7_IDENTITY and the rest), a MELSEC CPU read over SLMP, a BACnet building
controller and a PROFINET IO device found by DCP; an engineering workstation;
IP cameras set up by an NVR over RTSP (401 digest challenge, then 200) and streaming RTP/UDP, some
telling who they are (ONVIF device information, a UPnP description, a self-signed HTTPS certificate:
CAMERA_IDENTITY and the rest); DHCP, DNS, ARP and WS-Discovery. Unless ``risky=False``, the first
half (LEARN_FRACTION) is only that normal traffic, to learn from, and then INCIDENTS follow at known
times by known devices, one or more for every alert kind: an unknown laptop that sweeps the subnet
with ARP, port-scans a PLC, logs into
a camera with its default password, speaks SMBv1 and looks up an indicator's domain; an S7 STOP and
a program download; Modbus writes (between a known pair, too); a new S7 link; a clear-text Telnet
login; a CIP firmware update after which the PLC reports a new revision; an HMI renamed; a
connection out to the Internet, one in from it and an RDP session from outside. ``cameras=True``
makes it a camera-heavy site instead: 16 cameras streaming H.264 at about 2 Mbit/s each, next to
the same plant.

How it is fast: every packet kind is laid out once with ``struct``; per packet only timestamps,
sequence numbers, ids, lengths and IPv4/TCP checksums are stamped (UDP checksums are 0, which IPv4
allows). Actors are generators yielding ``(time_us, builder, argument, label)``; a heap merges them
so timestamps never decrease, and a frame is built only when it is written, so TCP state always
matches the file. When the packet budget is nearly spent every open TCP connection is closed with
FIN (so a flow table sees SF) and a few ARP frames fill the budget exactly.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sensor.meter import oui

EPOCH = 1_767_571_200  # 2026-01-05T00:00:00Z
NOMINAL_PPS = 295  # packets per simulated second of the steady mix (measured); sets the span
CAMERA_SITE_PPS = 2750  # the same for the camera-heavy site
US = 1_000_000
SNAPLEN = 65535
FLUSH_BYTES = 4 << 20

BROADCAST_MAC = b"\xff" * 6
BROADCAST_IP = socket.inet_aton("255.255.255.255")
ZERO_IP = bytes(4)
WSD_IP, WSD_MAC = socket.inet_aton("239.255.255.250"), bytes.fromhex("01005e7ffffa")
SUBNET = "10.10.0."
DOMAIN = "plant.local"

SYN, FIN, PSH_ACK, ACK, SYN_ACK, FIN_ACK, RST, RST_ACK = 0x02, 0x01, 0x18, 0x10, 0x12, 0x11, 0x04, 0x14
SEQ = 0xFFFFFFFF
PORT_LABELS = {502: "modbus", 102: "s7comm", 44818: "enip", 554: "rtsp", 23: "telnet", 80: "http", 443: "tls",
               445: "smb", 3389: "rdp"}

# name, role, host number, OUI, DHCP client?, IP TTL (64 embedded/Linux, 128 Windows)
PLANT = [
    ("gw-1", "router", 1, "00:90:e8", False, 64),
    ("srv-infra", "server", 2, "00:24:e8", False, 128),
    ("plc-s7-1", "plc", 11, "00:1b:1b", False, 30),
    ("plc-s7-2", "plc", 12, "28:63:36", False, 30),
    ("plc-logix-1", "plc", 13, "00:00:bc", False, 64),
    ("plc-m340-1", "plc", 14, "00:80:f4", False, 64),
    ("plc-iqr-1", "plc", 15, "00:26:92", False, 64),
    ("hmi-1", "hmi", 21, "00:0b:ab", True, 128),
    ("hmi-2", "hmi", 22, "74:fe:48", True, 128),
    ("hmi-3", "hmi", 23, "00:d0:c9", True, 128),
    ("eng-ws-1", "engineering_workstation", 30, "3c:52:82", False, 128),
    ("nvr-1", "nvr", 40, "54:c4:15", False, 64),
    ("cam-axis-1", "camera", 51, "00:40:8c", True, 64),
    ("cam-axis-2", "camera", 52, "ac:cc:8e", True, 64),
    ("cam-hik-1", "camera", 53, "bc:ad:28", True, 64),
    ("cam-hik-2", "camera", 54, "44:19:b6", True, 64),
    ("cam-ipro-1", "camera", 55, "00:80:f0", True, 64),
]
LAPTOP = ("DESKTOP-7Q2K9LM", "unknown", 99, "c8:5b:76", True, 128)
# controllers that answer only to their own protocols: FINS/UDP, BACnet/IP, PROFINET DCP
MORE_CONTROLLERS = [
    ("plc-cp1l-1", "plc", 16, "00:00:0a", False, 64),
    ("bms-o3-1", "plc", 17, "00:40:ae", False, 64),
    ("io-et200sp-1", "io_device", 18, "00:1b:1b", False, 64),
]
LATE = frozenset(d[0] for d in MORE_CONTROLLERS)  # announce themselves (gratuitous ARP) when they start
# hosts on the Internet (behind gw-1): a web server, an attacker probing the site, an RDP client
INTERNET = {"web": "93.184.216.34", "attacker": "45.155.205.233", "rdp-client": "185.220.101.47"}
INDICATOR_DOMAIN = "avsvmcloud.com"  # a published indicator (SUNBURST's command-and-control domain)
LEARN_FRACTION = 0.5  # the risky plant's first half is normal traffic only
# The risky plant's incidents: (fraction of the span, method, source, target, alert kinds it shows).
# Devices are plant names, the laptop's or INTERNET's keys.
INCIDENTS = (
    (0.52, "rogue_laptop", LAPTOP[0], "", ("new_device", "scan", "indicator_match")),
    (0.56, "port_scan", LAPTOP[0], "plc-s7-1", ("scan", "new_link")),
    (0.58, "camera_default_login", LAPTOP[0], "cam-hik-1", ("default_credentials", "cleartext_credentials")),
    (0.60, "smb1_session", LAPTOP[0], "srv-infra", ("smbv1",)),
    (0.62, "s7_maintenance", "eng-ws-1", "plc-s7-2", ("plc_stop", "new_link")),
    (0.63, "s7_restart", "eng-ws-1", "plc-s7-2", ("plc_start",)),
    (0.64, "s7_download", "eng-ws-1", "plc-s7-1", ("plc_program_change",)),
    (0.66, "modbus_write", "eng-ws-1", "plc-m340-1", ("new_link", "new_ot_function")),
    (0.68, "modbus_register_write", "hmi-2", "plc-iqr-1", ("new_ot_function",)),
    (0.70, "s7_link", "hmi-2", "plc-s7-1", ("new_link",)),
    (0.72, "telnet_login", "eng-ws-1", "plc-iqr-1", ("cleartext_credentials", "remote_access", "new_link")),
    (0.74, "firmware_update", "eng-ws-1", "plc-logix-1", ("firmware_change",)),
    (0.78, "renamed", "hmi-3", "", ("device_change",)),
    (0.80, "outbound", "eng-ws-1", "web", ("internet_exposure",)),
    (0.82, "inbound", "attacker", "nvr-1", ("internet_exposure",)),
    (0.84, "rdp_from_outside", "rdp-client", "eng-ws-1", ("remote_access", "internet_exposure")),
)
SCAN_PORTS = (20, 21, 22, 25, 110, 111, 135, 139, 143, 161, 389, 465, 587, 636, 993, 995, 1433, 1521, 1723,
              3306, 5432, 5900, 5985, 6379, 8000, 8080, 8443, 8888, 9100, 10000)  # and SCAN_OPEN
SCAN_OPEN = 80  # the scanned PLC's web server: the one port that answers
DEFAULT_LOGIN = "Basic YWRtaW46MTIzNDU="  # admin:12345, the cameras' old factory login
REVISIONS = ((33, 11), (34, 1))  # plc-logix-1's firmware before and after the update
# What the controllers say of themselves when asked (S7 SZL, Modbus device identification, CIP
# Identity, FINS Controller Data Read, SLMP Read Type Name, BACnet device object, PROFINET DCP).
# The firmware is inside published advisories' affected ranges, so vulnerability matching finds
# them: S7-1200 V4.4.0 < V4.5.0 and S7-1500 V2.8.3 < V2.9.2 (ICSA-22-286-04), M340 v2.8 < 2.9
# (ICSA-17-054-03), CP1L 1.07 < 1.10 (ICSA-22-179-02), Logix 33.11 (ICSA-24-284-20).
S7_IDENTITY = {  # order number, firmware, station, module name, serial, module type
    "plc-s7-1": ("6ES7 214-1AG40-0XB0", (4, 4, 0), "Line1", "PLC_LINE1", "S C-J9T612342019", "CPU 1214C DC/DC/DC"),
    "plc-s7-2": ("6ES7 515-2AM01-0AB0", (2, 8, 3), "Line2", "PLC_LINE2", "S C-K2V518772020", "CPU 1515-2 PN"),
}
MODBUS_IDENTITY = {"plc-m340-1": (b"Schneider Electric", b"BMX P34 2020", b"v2.8")}  # vendor, product code, revision
LOGIX_NAME = b"1756-L83E/B LOGIX5583E"
FINS_IDENTITY = (b"CP1L-EM40DT-D", b"01.07")  # controller model, version
MELSEC_TYPE_NAME = b"R04ENCPU"
BACNET_DEVICE = 1201  # device instance; vendor id 8 (Delta Controls) and its device object's properties:
BACNET_PROPERTIES = ((121, "Delta Controls"), (70, "O3-DIN-CPU"), (44, "4.40.1"), (12, "V4.40"),
                     (77, "BMS-Building-A"))
PROFINET_STATION = (b"et200sp-line1", b"ET200SP", 0x002A, 0x0313)  # name, type of station, vendor, device id
OT_IDENTITY_PERIOD = 600 * US  # engineering tools re-read the controllers' identities
# the camera-heavy site's other cameras (the plant's five, and these)
MORE_CAMERAS = [(f"cam-{i}", "camera", 55 + i, ("00:40:8c", "bc:ad:28", "00:80:f0")[i % 3], True, 64)
                for i in range(1, 12)]

# DHCP vendor class (option 60) and parameter request list (55) by role; Windows vs embedded Linux
DHCP_IDENTITY = {
    "hmi": (b"MSFT 5.0", bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252])),
    "unknown": (b"MSFT 5.0", bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252])),
    "camera": (b"udhcp 1.30.1", bytes([1, 3, 6, 12, 15, 28, 42])),
}
# Cameras that describe themselves (plant names): ONVIF GetDeviceInformation answers (manufacturer,
# model, firmware, serial, hardware id) with the HTTP Server banner of their web server ("" for none).
# cam-hik-1 runs a firmware inside ICSA-17-124-01's range for the DS-2CD2xx2FWD series, cam-ipro-1 is
# one of ICSA-23-012-04's Sanyo models at an affected release; cam-axis-1 matches no advisory.
CAMERA_IDENTITY = {
    "cam-hik-1": ("HIKVISION", "DS-2CD2132FWD-IS", "V5.4.0 build 160530", "DS-2CD2132FWD-IS20160601CCWR58120001",
                  "88", "App-webs/"),
    "cam-axis-1": ("AXIS", "M3045-V", "9.80.1", "ACCC8E5A1C01", "1A4", ""),
    "cam-ipro-1": ("Panasonic", "VCC-HD5600P", "2.03-06", "ZD6410021", "1", ""),
}
UPNP_CAMERA = ("cam-axis-2", "AXIS", "AXIS P3245-LVE", "P3245-LVE", "ACCC8E5A1C02")  # SSDP + description
TLS_CAMERA = "cam-hik-2"  # serves HTTPS with its own (self-signed) certificate
# cam-hik-2's certificate: a real self-signed ECDSA P-256 certificate made once with openssl
# (subject = issuer "C=CN, ST=ZJ, L=HZ, O=Hikvision, OU=Embedded Net, CN=DS-2CD2143G0-I",
# valid 2025-06-01 to 2035-05-30, serial 5A3C01), stored here so that every run writes the same bytes
CAMERA_CERT = base64.b64decode(
    "MIIBwDCCAWYCA1o8ATAKBggqhkjOPQQDAjBrMQswCQYDVQQGEwJDTjELMAkGA1UECAwCWkoxCzAJBgNVBAcMAkhaMRIwEAYDVQQK"
    "DAlIaWt2aXNpb24xFTATBgNVBAsMDEVtYmVkZGVkIE5ldDEXMBUGA1UEAwwORFMtMkNEMjE0M0cwLUkwHhcNMjUwNjAxMDAwMDAw"
    "WhcNMzUwNTMwMDAwMDAwWjBrMQswCQYDVQQGEwJDTjELMAkGA1UECAwCWkoxCzAJBgNVBAcMAkhaMRIwEAYDVQQKDAlIaWt2aXNp"
    "b24xFTATBgNVBAsMDEVtYmVkZGVkIE5ldDEXMBUGA1UEAwwORFMtMkNEMjE0M0cwLUkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC"
    "AARrZ9knX1MV7eZNbtSPC9Kgr2+R05hWR1qeCyhL+0ZJeqZwCchVo+cDqiJdLqMykNpth2lS4939yT87AgAdGvD2MAoGCCqGSM49"
    "BAMCA0gAMEUCIDrfmGJmAIn9SpuEVfd/c6qTFGvAGfyivFrqJMZGBWA6AiEAgnwn0s5mMN9KWqsFtORnaAbFP8dtvBylas7PlXrX"
    "GWI=")
IDENTITY_PERIOD = 1800 * US  # the NVR re-reads its cameras' identities; cameras re-announce themselves
CAMERA_URLS = {"00:40:8c": "/axis-media/media.amp", "ac:cc:8e": "/axis-media/media.amp",
               "bc:ad:28": "/Streaming/Channels/101", "44:19:b6": "/Streaming/Channels/101",
               "00:80:f0": "/MediaInput/h264"}


@dataclass
class Host:
    name: str
    role: str
    ip_text: str
    mac_text: str
    dhcp: bool
    ttl: int
    ipid: int = 0
    ip: bytes = field(init=False)
    mac: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.ip, self.mac = socket.inet_aton(self.ip_text), bytes.fromhex(self.mac_text.replace(":", ""))


# -- frame layout -------------------------------------------------------------------------------

ETH_IP = struct.Struct("!6s6sHBBHHHBBH4s4s")
TCP_HDR = struct.Struct("!HHIIBBHHH")
UDP_HDR = struct.Struct("!HHHH")
ARP_FRAME = struct.Struct("!6s6sHHHBBH6s4s6s4s")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1)
PCAP_RECORD = struct.Struct("<IIII")


def checksum(data: bytes) -> bytes:
    """Internet checksum (RFC 1071), returned as the two bytes to store (byte-order independent)."""
    if len(data) & 1:
        data += b"\x00"
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("=H", ~total & 0xFFFF)


def ipv4_frame(src: Host, dst_mac: bytes, dst_ip: bytes, proto: int, l4: bytes) -> bytes:
    src.ipid = (src.ipid + 1) & 0xFFFF
    head = ETH_IP.pack(dst_mac, src.mac, 0x0800, 0x45, 0, 20 + len(l4), src.ipid, 0x4000, src.ttl,
                       proto, 0, src.ip, dst_ip)
    frame = head[:24] + checksum(head[14:]) + head[26:] + l4
    return frame if len(frame) >= 60 else frame + bytes(60 - len(frame))  # Ethernet minimum


def udp_frame(src: Host, dst_mac: bytes, dst_ip: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    return ipv4_frame(src, dst_mac, dst_ip, 17, UDP_HDR.pack(sport, dport, 8 + len(payload), 0) + payload)


def tcp_frame(src: Host, dst: Host, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"") -> bytes:
    header = TCP_HDR.pack(sport, dport, seq, ack, 0x50, flags, 64240, 0, 0)
    pseudo = src.ip + dst.ip + struct.pack("!HH", 6, 20 + len(payload))
    l4 = header[:16] + checksum(pseudo + header + payload) + header[18:] + payload
    return ipv4_frame(src, dst.mac, dst.ip, 6, l4)


def arp_frame(op: int, sender: Host, target_mac: bytes, target_ip: bytes) -> bytes:
    eth_dst = BROADCAST_MAC if op == 1 else target_mac
    frame = ARP_FRAME.pack(eth_dst, sender.mac, 0x0806, 1, 0x0800, 6, 4, op, sender.mac, sender.ip,
                           target_mac, target_ip)
    return frame + bytes(60 - len(frame))


class Tcp:
    """One TCP connection; segments are built (and sequence numbers advanced) only when written."""

    def __init__(self, sim: Simulation, client: Host, server: Host, dport: int,
                 rng: random.Random | None = None) -> None:
        self.sim, self.client, self.server, self.dport = sim, client, server, dport
        self.label = PORT_LABELS[dport]
        # a connection with a random source of its own leaves the plant's draws (its traffic) as they were
        self.sport = sim.ephemeral_port() if rng is None else 32768 + rng.randrange(16384)
        rng = rng or sim.rng
        self.seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}  # by from_client
        self.stage = 0  # segments of the handshake written (0..3)
        self.fin = {True: False, False: False}
        self.closed = False

    def need(self) -> int:
        """Segments still needed to finish the handshake and close (0 once closed)."""
        if self.closed:
            return 0
        return (3 - self.stage) + (not self.fin[True]) + (not self.fin[False]) + 1

    def segment(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        sim = self.sim
        before = self.need() if self in sim.open_conns else 0
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sport, dport = (self.sport, self.dport) if from_client else (self.dport, self.sport)
        seq, ack = self.seq[from_client], (self.seq[not from_client] if flags != SYN else 0)
        frame = tcp_frame(src, dst, sport, dport, seq, ack, flags, payload)
        self.seq[from_client] = (seq + len(payload) + bool(flags & (SYN | FIN))) & 0xFFFFFFFF
        if self.stage < 3 and flags in (SYN, SYN_ACK, ACK):
            self.stage += 1
        if flags & FIN:
            self.fin[from_client] = True
        elif self.fin[True] and self.fin[False]:  # the last ACK
            self.closed = True
        if self.closed:
            sim.open_conns.pop(self, None)
        else:
            sim.open_conns[self] = None
        sim.reserve += self.need() - before
        return frame

    # builders the scheduler calls with one argument
    def syn(self, _: object) -> bytes:
        return self.segment(True, SYN)

    def syn_ack(self, _: object) -> bytes:
        return self.segment(False, SYN_ACK)

    def ack(self, from_client: bool) -> bytes:
        return self.segment(from_client, ACK)

    def send(self, payload: bytes) -> bytes:
        return self.segment(True, PSH_ACK, payload)

    def reply(self, payload: bytes) -> bytes:
        return self.segment(False, PSH_ACK, payload)

    def fin_from(self, from_client: bool) -> bytes:
        return self.segment(from_client, FIN_ACK)

    def remaining(self) -> list[tuple[Callable, object]]:
        """Builders that complete the handshake and close, in order (used when the budget ends)."""
        steps: list[tuple[Callable, object]] = [(self.syn, None), (self.syn_ack, None), (self.ack, True)]
        steps = steps[self.stage:]
        if not self.fin[True]:
            steps.append((self.fin_from, True))
        if not self.fin[False]:
            steps.append((self.fin_from, False))
        return steps + [(self.ack, True)]


Step = tuple[int, Callable[[object], bytes], object, str]  # (time µs, builder, argument, label)
Exchange = tuple[int, bytes, bytes]  # (gap µs before it, request, response); either may be b""


def tcp_open(conn: Tcp, t: int) -> Iterator[Step]:
    yield t, conn.syn, None, conn.label
    yield t + 300, conn.syn_ack, None, conn.label
    yield t + 500, conn.ack, True, conn.label
    return t + 1_000


def tcp_exchanges(conn: Tcp, t: int, exchanges: Iterable[Exchange]) -> Iterator[Step]:
    for gap, request, response in exchanges:
        t += gap
        if request:
            yield t, conn.send, request, conn.label
        if response:
            yield t + 1_500, conn.reply, response, conn.label
    return t + 2_000


def tcp_session(conn: Tcp, t: int, exchanges: Iterable[Exchange]) -> Iterator[Step]:
    """Handshake, request/response exchanges, then FIN from the client (Zeek conn_state SF)."""
    t = yield from tcp_open(conn, t)
    t = (yield from tcp_exchanges(conn, t, exchanges)) + 20_000
    yield t, conn.fin_from, True, conn.label
    yield t + 400, conn.fin_from, False, conn.label
    yield t + 600, conn.ack, True, conn.label


# -- protocol payloads --------------------------------------------------------------------------

def modbus(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack("!HHHB", tid & 0xFFFF, 0, len(pdu) + 1, unit) + pdu


def tpkt_cotp_data(s7: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 7 + len(s7)) + b"\x02\xf0\x80" + s7


def s7_job(pdu_ref: int, params: bytes, data: bytes = b"") -> bytes:
    return tpkt_cotp_data(struct.pack("!BBHHHH", 0x32, 1, 0, pdu_ref, len(params), len(data)) + params + data)


def s7_ack(pdu_ref: int, params: bytes, data: bytes = b"") -> bytes:
    header = struct.pack("!BBHHHHBB", 0x32, 3, 0, pdu_ref, len(params), len(data), 0, 0)
    return tpkt_cotp_data(header + params + data)


COTP_CR = bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102")
COTP_CC = bytes.fromhex("0300001611d00001000100c0010ac1020100c2020102")
S7_SETUP = bytes.fromhex("f0000001000101e0")
S7_READ_DB1 = bytes.fromhex("0401120a10020010000184000000")  # read 16 bytes of DB1
S7_STOP = bytes.fromhex("29000000000009") + b"P_PROGRAM"
# program download of OB1: Request Download (file name, then load memory and MC7 lengths), and the
# PLC Control that activates the block (PI service _INSE)
S7_REQUEST_DOWNLOAD = bytes.fromhex("1a0001000000000009") + b"_0800001P" + b"\x0d1000144000110"
S7_INSERT_BLOCK = bytes.fromhex("28000000000000fd0009") + b"0800001P\x00" + b"\x05_INSE"
S7_START = bytes.fromhex("28000000000000fd0000") + b"\x09P_PROGRAM"  # PLC Control: warm restart
RDP_REQUEST = bytes.fromhex("0300002924e00000000000") + b"Cookie: mstshash=eng\r\n" + bytes.fromhex("0100080003000000")
RDP_CONFIRM = bytes.fromhex("030000130ed000001234000200080001000000")  # the server picks TLS


def smb1(command: int, response: bool, words: bytes, data: bytes) -> bytes:
    """One SMBv1 message in a NetBIOS session frame."""
    header = (b"\xffSMB" + bytes([command]) + bytes(4) + bytes([0x98 if response else 0x18])
              + struct.pack("<H", 0xC001) + bytes(12) + struct.pack("<HHHH", 0, 0xFEFF, 0, 1))
    body = header + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data
    return struct.pack("!I", len(body)) + body


SMB1_NEGOTIATE = smb1(0x72, False, b"", b"\x02NT LM 0.12\x00")
SMB1_NEGOTIATED = smb1(0x72, True, struct.pack("<H", 0) + bytes(32), b"")  # the server picks NT LM 0.12


def enip(command: int, session: int, data: bytes) -> bytes:
    """Encapsulation header (status 0, zero sender context) and data."""
    return struct.pack("<HHII8sI", command, len(data), session, 0, b"", 0) + data


def enip_rr(cip: bytes) -> bytes:
    """SendRRData body: interface 0, timeout, null address item, unconnected data item."""
    return struct.pack("<IHHHHHH", 0, 10, 2, 0, 0, 0xB2, len(cip)) + cip


def list_identity_reply(host: Host, serial: int, revision: tuple[int, int] = REVISIONS[0]) -> bytes:
    name = b"1756-L83E/B LOGIX5583E"
    sockaddr = struct.pack("!hH4s8x", 2, 44818, host.ip)
    body = (struct.pack("<H", 1) + sockaddr + struct.pack("<HHHBBHI", 1, 0x0E, 0xA6, *revision, 0x3060, serial)
            + bytes([len(name)]) + name + b"\x03")
    return enip(0x63, 0, struct.pack("<HHH", 1, 0x0C, len(body)) + body)


CIP_READ_TAG = bytes.fromhex("4c06") + b"\x91\x0aTank_Level" + struct.pack("<H", 1)
CIP_NVS = bytes.fromhex("0220a12401")  # path: Non-Volatile Storage object (0xA1), instance 1 (ControlFLASH)
CIP_GET_IDENTITY = bytes.fromhex("01022001" "2401")  # Get_Attributes_All, Identity object (class 1) instance 1


def cip_identity_reply(serial: int, revision: tuple[int, int]) -> bytes:
    """Get_Attributes_All reply of the Identity object: vendor 1 (Rockwell), type 0x0E (PLC),
    product code, revision, status, serial number, product name."""
    return (b"\x81\x00\x00\x00" + struct.pack("<HHHBBHI", 1, 0x0E, 0xA6, *revision, 0x3060, serial)
            + bytes([len(LOGIX_NAME)]) + LOGIX_NAME)


def s7_userdata(pdu_ref: int, params: bytes, data: bytes) -> bytes:
    return tpkt_cotp_data(struct.pack("!BBHHHH", 0x32, 7, 0, pdu_ref, len(params), len(data)) + params + data)


def s7_read_szl(pdu_ref: int, szl_id: int) -> bytes:
    """A Read SZL request (user data, CPU functions) of a whole SZL, index 0."""
    return s7_userdata(pdu_ref, bytes.fromhex("000112041144" "0100"), b"\xff\x09\x00\x04" + struct.pack("!HH", szl_id, 0))


def s7_szl_answer(pdu_ref: int, szl_id: int, size: int, records: list[bytes]) -> bytes:
    """The Read SZL answer: the SZL header (id, index, record size, count) and its records, in one unit."""
    szl = struct.pack("!HHHH", szl_id, 0, size, len(records)) + b"".join(r.ljust(size, b"\x00") for r in records)
    return s7_userdata(pdu_ref, bytes.fromhex("000112081284" "01010000" "0000"), b"\xff\x09" + struct.pack("!H", len(szl)) + szl)


def s7_identity_answers(first_ref: int, identity: tuple) -> list[tuple[bytes, bytes]]:
    """(request, answer) of the two identity SZLs: module identification (0x0011: order number of
    the module and of its hardware, firmware version) and component identification (0x001C)."""
    order, (major, minor, patch), station, module, serial, module_type = identity
    mlfb = order.encode().ljust(20)
    modules = [struct.pack("!H", 1) + mlfb + bytes.fromhex("00000001" "0001"),
               struct.pack("!H", 6) + mlfb + bytes.fromhex("00000001" "0001"),
               struct.pack("!H", 7) + b" " * 20 + b"\x00\x00V" + bytes([major, minor, patch])]
    texts = ((1, station), (2, module), (3, ""), (4, "Original Siemens Equipment"), (5, serial), (7, module_type))
    components = [struct.pack("!H", index) + text.encode() for index, text in texts]
    return [(s7_read_szl(first_ref, 0x0011), s7_szl_answer(first_ref, 0x0011, 28, modules)),
            (s7_read_szl(first_ref + 1, 0x001C), s7_szl_answer(first_ref + 1, 0x001C, 34, components))]


def modbus_device_id_answer(objects: tuple[bytes, ...]) -> bytes:
    """Read Device Identification (basic) answer: MEI type, code, conformity, more, next, count, objects."""
    return b"\x2b\x0e\x01\x01\x00\x00" + bytes([len(objects)]) + b"".join(
        bytes([number, len(value)]) + value for number, value in enumerate(objects))


def fins(command: bool, sid: int, plc: int, hmi: int, code: int, data: bytes) -> bytes:
    """A FINS frame between the HMI's node and the PLC's (network 0): header, command code, data."""
    dst, src = (plc, hmi) if command else (hmi, plc)
    return struct.pack("!BBBBBBBBBBH", 0x80 if command else 0xC0, 0, 2, 0, dst, 0, 0, src, 0, sid & 0xFF, code) + data


def fins_controller_data() -> bytes:
    """Controller Data Read answer (to the request for model and version, parameter 00): end code,
    model and version (20 characters each, space padded), then the areas (zeros)."""
    model, version = FINS_IDENTITY
    return b"\x00\x00" + model.ljust(20) + version.ljust(20) + bytes(52)


def slmp_3e(request: bool, body: bytes) -> bytes:
    """A binary 3E frame to/from the CPU of the own station: subheader, route, data length, body."""
    return (b"\x50\x00" if request else b"\xd0\x00") + b"\x00\xff\xff\x03\x00" + struct.pack("<H", len(body)) + body


def bacnet_apdu(apdu: bytes, broadcast: bool = False, reply: bool = False) -> bytes:
    """BVLC (original unicast or broadcast), NPDU version 1 (expecting a reply or not), then the APDU."""
    npdu = b"\x01" + (b"\x04" if reply else b"\x00") + apdu
    return struct.pack("!BBH", 0x81, 0x0B if broadcast else 0x0A, 4 + len(npdu)) + npdu


def bacnet_device_properties(invoke: int) -> tuple[bytes, bytes]:
    """ReadPropertyMultiple of the device object's identity properties, and its ComplexACK."""
    device = b"\x0c" + struct.pack("!I", (8 << 22) | BACNET_DEVICE)
    props = [number for number, _ in BACNET_PROPERTIES] + [120]
    request = bytes([0x00, 0x05, invoke, 14]) + device + b"\x1e" + b"".join(bytes([0x09, p]) for p in props) + b"\x1f"
    values = b"".join(bytes([0x29, number, 0x4E, 0x75, len(text) + 1, 0]) + text.encode() + b"\x4f"
                      for number, text in BACNET_PROPERTIES) + bytes([0x29, 120, 0x4E, 0x21, 8, 0x4F])
    return bacnet_apdu(request, reply=True), bacnet_apdu(bytes([0x30, invoke, 14]) + device + b"\x1e" + values + b"\x1f")


def bacnet_i_am() -> bytes:
    """I-Am: device id, max APDU 1476, segmentation both, vendor id 8."""
    return bacnet_apdu(b"\x10\x00\xc4" + struct.pack("!I", (8 << 22) | BACNET_DEVICE) + b"\x22\x05\xc4\x91\x00\x21\x08",
                       broadcast=True)


DCP_MULTICAST = bytes.fromhex("010ecf000000")


def dcp_frame(dst: bytes, src: Host, payload: bytes) -> bytes:
    frame = dst + src.mac + b"\x88\x92" + payload
    return frame + bytes(max(0, 60 - len(frame)))


def dcp_block(option: int, suboption: int, value: bytes, info: bool = True) -> bytes:
    """A DCP block (a response's value starts with its 2-byte BlockInfo), padded to even length."""
    value = (b"\x00\x00" if info else b"") + value
    return struct.pack("!BBH", option, suboption, len(value)) + value + b"\x00" * (len(value) & 1)


def dcp_identify_response(device: Host, xid: int) -> bytes:
    name, kind, vendor, device_id = PROFINET_STATION
    blocks = (dcp_block(2, 2, name) + dcp_block(2, 1, kind) + dcp_block(2, 3, struct.pack("!HH", vendor, device_id))
              + dcp_block(2, 4, b"\x01\x00") + dcp_block(1, 2, device.ip + socket.inet_aton("255.255.255.0")
                                                         + socket.inet_aton(SUBNET + "1")))
    return struct.pack("!HBBIHH", 0xFEFF, 5, 1, xid, 0, len(blocks)) + blocks


def rtsp_request(method: str, url: str, cseq: int, extra: str = "") -> bytes:
    return (f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: NVR/4.1\r\n{extra}\r\n").encode()


def rtsp_response(cseq: int, status: str = "200 OK", extra: str = "", body: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}{length}\r\n{body}".encode()


def dhcp_message(kind: int, xid: int, client: Host, server: Host, hostname: bytes = b"",
                 yiaddr: bytes = ZERO_IP) -> bytes:
    op = 2 if kind in (2, 5) else 1
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000, ZERO_IP, yiaddr,
                        ZERO_IP, ZERO_IP, client.mac, b"", b"")
    options = [(53, bytes([kind]))]
    if op == 1:
        vendor_class, params = DHCP_IDENTITY[client.role]
        options += [(61, b"\x01" + client.mac), (12, hostname), (60, vendor_class), (55, params)]
        if kind == 3:
            options += [(50, client.ip), (54, server.ip)]
    else:
        options += [(54, server.ip), (51, struct.pack("!I", 86_400)), (1, socket.inet_aton("255.255.255.0")),
                    (3, socket.inet_aton(SUBNET + "1")), (6, server.ip), (15, DOMAIN.encode())]
    encoded = b"".join(bytes([code, len(value)]) + value for code, value in options)
    return bootp + b"\x63\x82\x53\x63" + encoded + b"\xff"


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00"


def dns_query(ident: int, name: str) -> bytes:
    return struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0) + dns_name(name) + b"\x00\x01\x00\x01"


def dns_response(ident: int, name: str, address: bytes | None) -> bytes:
    """An answer with one A record (name compressed to the question), or NXDOMAIN."""
    flags, count = (0x8580, 1) if address else (0x8183, 0)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + address if address else b""
    return struct.pack("!6H", ident, flags, 1, count, 0, 0) + dns_name(name) + b"\x00\x01\x00\x01" + answer


def wsd_probe(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
        f"<a:MessageID>uuid:{message_id}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"
    ).encode()


def wsd_probe_match(cam: Host, relates_to: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
        f"<a:RelatesTo>uuid:{relates_to}</a:RelatesTo>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header>"
        "<s:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>urn:uuid:{cam.mac.hex()}</a:Address></a:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/{cam.name}</d:Scopes>"
        f"<d:XAddrs>http://{cam.ip_text}/onvif/device_service</d:XAddrs>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def http_message(start: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """An HTTP/1.1 (or SSDP) message; a response or a body gets a Content-Length."""
    if body or start.startswith("HTTP/"):
        headers = {**headers, "Content-Length": str(len(body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"{start}\r\n{head}\r\n".encode() + body


def onvif_device_information(identity: tuple[str, ...]) -> bytes:
    manufacturer, model, firmware, serial, hardware = identity[:5]
    return (
        '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetDeviceInformationResponse>'
        f"<tds:Manufacturer>{manufacturer}</tds:Manufacturer><tds:Model>{model}</tds:Model>"
        f"<tds:FirmwareVersion>{firmware}</tds:FirmwareVersion><tds:SerialNumber>{serial}</tds:SerialNumber>"
        f"<tds:HardwareId>{hardware}</tds:HardwareId></tds:GetDeviceInformationResponse></env:Body></env:Envelope>"
    ).encode()


ONVIF_GET_DEVICE_INFORMATION = (
    b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b'<s:Body><tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')


def upnp_description(cam: Host, manufacturer: str, model_name: str, model_number: str, serial: str) -> bytes:
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major>'
        "<minor>0</minor></specVersion><device><deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>"
        f"<friendlyName>{model_name} - {serial}</friendlyName><manufacturer>{manufacturer}</manufacturer>"
        f"<modelName>{model_name}</modelName><modelNumber>{model_number}</modelNumber>"
        f"<serialNumber>{serial}</serialNumber><UDN>uuid:Upnp-BasicDevice-1_0-{serial}</UDN>"
        f"<presentationURL>http://{cam.ip_text}:80/</presentationURL></device></root>"
    ).encode()


def tls_record(kind: int, body: bytes) -> bytes:
    return struct.pack("!BHH", kind, 0x0303, len(body)) + body


def tls_handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def tls_client_hello(rng: random.Random) -> bytes:
    """TLS 1.2 ClientHello of a browser reaching a camera by address (no SNI): ECDHE-ECDSA/RSA AES-GCM."""
    extensions = (struct.pack("!HHH", 10, 4, 2) + struct.pack("!H", 23)  # supported groups: secp256r1
                  + struct.pack("!HHB", 11, 2, 1) + b"\x00"  # EC point formats: uncompressed
                  + struct.pack("!HHH", 13, 6, 4) + struct.pack("!HH", 0x0403, 0x0804))  # signature algorithms
    body = (struct.pack("!H", 0x0303) + rng.randbytes(32) + b"\x00" + struct.pack("!H6H", 12, 0xC02B, 0xC02F,
            0xC02C, 0xC030, 0x009C, 0x009D) + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    return tls_record(22, tls_handshake(1, body))


def tls_server_flight(rng: random.Random, certificate: bytes) -> bytes:
    """ServerHello (ECDHE-ECDSA-AES128-GCM-SHA256), Certificate, ServerKeyExchange (secp256r1), ServerHelloDone."""
    hello = struct.pack("!H", 0x0303) + rng.randbytes(32) + b"\x00" + struct.pack("!HB", 0xC02B, 0) + \
        struct.pack("!HHHB", 6, 11, 2, 1) + b"\x00"
    chain = len(certificate).to_bytes(3, "big") + certificate
    key_exchange = b"\x03" + struct.pack("!HB", 23, 65) + b"\x04" + rng.randbytes(64) + \
        struct.pack("!HH", 0x0403, 71) + rng.randbytes(71)
    return tls_record(22, tls_handshake(2, hello) + tls_handshake(11, len(chain).to_bytes(3, "big") + chain)
                      + tls_handshake(12, key_exchange) + tls_handshake(14, b""))


# -- the simulation -----------------------------------------------------------------------------

class Simulation:
    def __init__(self, seed: int, span_us: int, risky: bool, cameras: bool = False) -> None:
        self.rng = random.Random(seed)
        self.span = span_us
        self.risky = risky
        self.hd = cameras  # full-HD streams (else low-bitrate ones)
        self.reserve = 0  # frames owed to open TCP connections (handshake completion + close)
        self.open_conns: dict[Tcp, None] = {}  # insertion-ordered, so closing order is deterministic
        self._next_port = 49152 + self.rng.randrange(8000)
        self.hosts = []
        devices = PLANT + ([LAPTOP] if risky else []) + (MORE_CAMERAS if cameras else [])
        more = random.Random(f"controllers-{seed}")  # their own draws leave the plant's as they were
        for (name, role, num, prefix, dhcp, ttl), rng in [(d, self.rng) for d in devices] + \
                [(d, more) for d in MORE_CONTROLLERS]:
            tail = rng.randrange(1 << 24).to_bytes(3, "big").hex(":")
            self.hosts.append(Host(name, role, f"{SUBNET}{num}", f"{prefix}:{tail}", dhcp, ttl,
                                   ipid=rng.randrange(1 << 16)))
        self.by_name = {h.name: h for h in self.hosts}
        self.payload_pool = self.rng.randbytes(1500)
        gateway = self.hosts[0]  # the Internet's frames come and go through the router
        self.internet = {name: Host(name, "internet", ip, gateway.mac_text, False, 50)
                         for name, ip in INTERNET.items()} if risky else {}
        self.firmware_at = self.at(next(f for f, method, *_ in INCIDENTS if method == "firmware_update")) \
            if risky else span_us  # from then on the PLC reports its new firmware revision
        self.logix_serial = more.getrandbits(32)

    def host(self, name: str) -> Host:
        return self.by_name[name] if name in self.by_name else self.internet[name]

    def ephemeral_port(self) -> int:
        self._next_port = 49152 + (self._next_port - 49152 + 1 + self.rng.randrange(7)) % 16384
        return self._next_port

    def at(self, fraction: float) -> int:
        return int(self.span * fraction)

    def actors(self) -> list[Iterator[Step]]:
        h = self.host
        cams = [x for x in self.hosts if x.role == "camera"]
        actors = [self.startup(), self.arp_chatter(), self.ws_discovery(h("nvr-1"), cams),
                  self.list_identity(h("eng-ws-1"), h("plc-logix-1"))]
        for hmi, plcs in (("hmi-1", ("plc-m340-1", "plc-iqr-1")), ("hmi-2", ("plc-m340-1", "plc-iqr-1")),
                          ("hmi-3", ("plc-m340-1",))):
            actors += [self.modbus_poll(h(hmi), h(plc), 100_000) for plc in plcs]
        actors += [self.s7_poll(h("hmi-1"), h(plc), 200_000) for plc in ("plc-s7-1", "plc-s7-2")]
        actors.append(self.enip_poll(h("hmi-3"), h("plc-logix-1"), 100_000))
        actors += [self.fins_poll(h("hmi-3"), h("plc-cp1l-1"), US), self.slmp_type_name(h("eng-ws-1"), h("plc-iqr-1")),
                   self.bacnet_device(h("eng-ws-1"), h("bms-o3-1")), self.dcp_identify(h("eng-ws-1"), h("io-et200sp-1"))]
        actors += [self.camera(h("nvr-1"), cam, 200_000 + 150_000 * i) for i, cam in enumerate(cams)]
        actors += self.camera_identities(h("nvr-1"), h("eng-ws-1"))
        for name, names in (("eng-ws-1", ("historian", "plc-s7-1", "plc-logix-1", "ntp")),
                            ("hmi-1", ("historian", "ntp")), ("hmi-2", ("historian",))):
            actors.append(self.dns_client(h(name), names, 20 * US))
        if self.risky:
            actors += [getattr(self, method)(h(src), h(dst) if dst else None, self.at(fraction))
                       for fraction, method, src, dst, _ in INCIDENTS]
        return actors

    def incidents(self, start_us: int) -> list[dict]:
        """INCIDENTS as they happen in the capture: time (s since the epoch), what, who, the kinds."""
        return [{"ts": (start_us + self.at(fraction)) / US, "incident": method, "src": self.host(src).ip_text,
                 "dst": self.host(dst).ip_text if dst else "", "kinds": list(kinds)}
                for fraction, method, src, dst, kinds in INCIDENTS] if self.risky else []

    # -- infrastructure ------------------------------------------------------------------------

    def startup(self) -> Iterator[Step]:
        """Every device announces itself (gratuitous ARP); DHCP clients then lease their address."""
        t = 0
        for host in self.hosts:
            if host.role != "unknown" and host.name not in LATE:
                yield t, lambda h: arp_frame(1, h, bytes(6), h.ip), host, "arp"
                t += 7_000
        for host in self.hosts:
            if host.dhcp and host.role != "unknown":
                t += 15_000
                yield from self.dhcp_lease(host, t)

    def dhcp_lease(self, client: Host, t: int, hostname: str = "") -> Iterator[Step]:
        server, xid = self.host("srv-infra"), self.rng.getrandbits(32)
        name = (hostname or client.name).encode()

        def from_client(kind: int) -> bytes:
            return udp_frame(client, BROADCAST_MAC, BROADCAST_IP, 68, 67,
                             dhcp_message(kind, xid, client, server, name))

        def from_server(kind: int) -> bytes:
            return udp_frame(server, BROADCAST_MAC, BROADCAST_IP, 67, 68,
                             dhcp_message(kind, xid, client, server, yiaddr=client.ip))

        for offset, builder, kind in ((0, from_client, 1), (2_000, from_server, 2), (4_000, from_client, 3),
                                      (6_000, from_server, 5)):
            yield t + offset, builder, kind, "dhcp"

    def arp_chatter(self) -> Iterator[Step]:
        """Every host refreshes its ARP entries for the router and the infrastructure server (DNS,
        DHCP, historian) about once a minute, staggered: who-has (broadcast) answered by is-at."""
        known = [h for h in self.hosts if h.role != "unknown" and h.name not in LATE]
        servers = [self.host("gw-1"), self.host("srv-infra")]
        pairs = [(asker, target) for target in servers for asker in known if asker is not target]
        t, step = 500_000, 60 * US // len(pairs)
        while True:
            for asker, target in pairs:
                yield t, lambda a: arp_frame(1, a[0], bytes(6), a[1].ip), (asker, target), "arp"
                yield t + 200, lambda a: arp_frame(2, a[1], a[0].mac, a[0].ip), (asker, target), "arp"
                t += step + self.rng.randrange(-step // 4, step // 4)

    def dns_lookup(self, client: Host, name: str, address: bytes | None, t: int) -> Iterator[Step]:
        """One A query to the plant DNS server and its answer (NXDOMAIN when ``address`` is None)."""
        server, port, ident = self.host("srv-infra"), self.ephemeral_port(), self.rng.getrandbits(16)
        yield t, lambda _: udp_frame(client, server.mac, server.ip, port, 53, dns_query(ident, name)), None, "dns"
        yield t + 800, lambda _: udp_frame(server, client.mac, client.ip, 53, port,
                                           dns_response(ident, name, address)), None, "dns"

    def dns_client(self, client: Host, names: tuple[str, ...], period: int) -> Iterator[Step]:
        """Periodic lookups of plant names (``historian`` and ``ntp`` live on the infra server)."""
        t = self.rng.randrange(period)
        while True:
            name = self.rng.choice(names)
            address = self.by_name[name].ip if name in self.by_name else self.host("srv-infra").ip
            yield from self.dns_lookup(client, f"{name}.{DOMAIN}", address, t)
            t += period + self.rng.randrange(-period // 4, period // 4)

    def ws_discovery(self, nvr: Host, cams: list[Host]) -> Iterator[Step]:
        """ONVIF device discovery: the NVR probes the multicast group every 5 minutes; cameras answer."""
        t = 100_000
        while True:
            message_id = f"{self.rng.getrandbits(128):032x}"
            yield t, lambda m: udp_frame(nvr, WSD_MAC, WSD_IP, 3702, 3702, wsd_probe(m)), message_id, "wsdiscovery"
            for i, cam in enumerate(cams):
                yield t + 20_000 + 5_000 * i, lambda a: udp_frame(
                    a[0], nvr.mac, nvr.ip, 3702, 3702, wsd_probe_match(*a)), (cam, message_id), "wsdiscovery"
            t += 300 * US

    # -- industrial protocols -------------------------------------------------------------------

    def polls_per_session(self, period: int) -> int:
        """Polls per TCP session: HMIs reconnect every one to four minutes."""
        return self.rng.randrange(60 * US, 240 * US) // period

    def modbus_poll(self, hmi: Host, plc: Host, period: int) -> Iterator[Step]:
        """Read holding registers 0..9 every ``period`` µs on a connection renewed every few minutes."""
        t, tid = self.rng.randrange(period) + 300_000, 0
        while True:
            conn = Tcp(self, hmi, plc, 502)
            polls = self.polls_per_session(period)
            exchanges = []
            if plc.name in MODBUS_IDENTITY:  # the HMI reads the device identification on connecting
                tid += 1
                exchanges.append((0, modbus(tid, 1, b"\x2b\x0e\x01\x00"),
                                  modbus(tid, 1, modbus_device_id_answer(MODBUS_IDENTITY[plc.name]))))
            for i in range(polls):
                tid += 1
                values = struct.pack("!10H", *((tid * 7 + r * 131) & 0x0FFF for r in range(10)))
                exchanges.append((period if i else 0, modbus(tid, 1, b"\x03\x00\x00\x00\x0a"),
                                  modbus(tid, 1, b"\x03\x14" + values)))
            yield from tcp_session(conn, t, exchanges)
            t += polls * period + 1_050_000

    def s7_poll(self, client: Host, plc: Host, period: int) -> Iterator[Step]:
        t = self.rng.randrange(period) + 400_000
        while True:
            polls = self.polls_per_session(period)
            yield from tcp_session(Tcp(self, client, plc, 102), t, self.s7_exchanges(polls, period, plc=plc))
            t += polls * period + 1_100_000

    def s7_exchanges(self, polls: int, period: int, stop_at: int = -1, plc: Host | None = None) -> Iterator[Exchange]:
        """COTP connect, S7 setup communication, the PLC's identity (SZL reads, as an HMI does on
        connecting, when ``plc`` has one), then DB1 reads (and a PLC STOP job at ``stop_at``)."""
        yield 0, COTP_CR, COTP_CC
        yield 3_000, s7_job(1, S7_SETUP), s7_ack(1, S7_SETUP)
        if plc is not None and plc.name in S7_IDENTITY:
            for request, answer in s7_identity_answers(0x0100, S7_IDENTITY[plc.name]):
                yield 2_000, request, answer
        for i in range(polls):
            ref = (i + 2) & 0xFFFF
            if i == stop_at:
                yield period, s7_job(ref, S7_STOP), s7_ack(ref, b"\x29")
                continue
            data = b"\xff\x04\x00\x80" + struct.pack("!8H", *((i * 3 + k) & 0xFFFF for k in range(8)))
            yield period, s7_job(ref, S7_READ_DB1), s7_ack(ref, b"\x04\x01", data)

    def enip_poll(self, client: Host, plc: Host, period: int) -> Iterator[Step]:
        """RegisterSession, then CIP Read Tag requests in SendRRData, renewed every few minutes."""
        t = self.rng.randrange(period) + 500_000
        while True:
            polls, session = self.polls_per_session(period), self.rng.getrandbits(32)
            identity = cip_identity_reply(self.logix_serial, REVISIONS[t >= self.firmware_at])
            exchanges = [(0, enip(0x65, 0, b"\x01\x00\x00\x00"), enip(0x65, session, b"\x01\x00\x00\x00")),
                         (2_000, enip(0x6F, session, enip_rr(CIP_GET_IDENTITY)), enip(0x6F, session, enip_rr(identity)))]
            for i in range(polls):
                level = struct.pack("<f", 40.0 + (i % 200) / 10)
                exchanges.append((period, enip(0x6F, session, enip_rr(CIP_READ_TAG)),
                                  enip(0x6F, session, enip_rr(b"\xcc\x00\x00\x00\xca\x00" + level))))
            yield from tcp_session(Tcp(self, client, plc, 44818), t, exchanges)
            t += polls * period + 1_200_000

    def list_identity(self, ews: Host, plc: Host) -> Iterator[Step]:
        """EtherNet/IP ListIdentity broadcast from the engineering software every minute."""
        t, serial = 2 * US, self.logix_serial
        while True:
            yield t, lambda _: udp_frame(ews, BROADCAST_MAC, socket.inet_aton(SUBNET + "255"), 44818, 44818,
                                         enip(0x63, 0, b"")), None, "enip"
            revision = REVISIONS[t >= self.firmware_at]
            yield t + 2_000, lambda r: udp_frame(plc, ews.mac, ews.ip, 44818, 44818,
                                                 list_identity_reply(plc, serial, r)), revision, "enip"
            t += 60 * US

    @staticmethod
    def announce(host: Host, t: int) -> Step:
        """A gratuitous ARP: how a controller that starts late joins the plant."""
        return t, lambda h: arp_frame(1, h, bytes(6), h.ip), host, "arp"

    def fins_poll(self, hmi: Host, plc: Host, period: int) -> Iterator[Step]:
        """FINS/UDP: the HMI reads the controller's model and version (Controller Data Read) now and
        then, and 10 DM words every ``period`` µs."""
        t, sid, node, own = 1_500_000, 0, plc.ip[3], hmi.ip[3]
        read_dm = b"\x82\x00\x64\x00\x00\x0a"  # DM 100, 10 words
        yield self.announce(plc, t - 1_000)
        while True:
            sid += 1
            ask = (0x0501, b"\x00", fins_controller_data()) if sid % (OT_IDENTITY_PERIOD // period) == 1 \
                else (0x0101, read_dm, b"\x00\x00" + bytes(20))
            code, request, answer = ask
            yield t, lambda a: udp_frame(hmi, plc.mac, plc.ip, 9600, 9600, fins(True, a[0], node, own, a[1], a[2])), \
                (sid, code, request), "fins"
            yield t + 1_200, lambda a: udp_frame(plc, hmi.mac, hmi.ip, 9600, 9600, fins(False, a[0], node, own, a[1], a[2])), \
                (sid, code, answer), "fins"
            t += period

    def slmp_type_name(self, ews: Host, plc: Host) -> Iterator[Step]:
        """SLMP over UDP: the engineering tool reads the CPU's type name (Read Type Name)."""
        t = 2_500_000
        request = slmp_3e(True, b"\x10\x00\x01\x01\x00\x00")  # timer, command 0x0101, subcommand 0
        answer = slmp_3e(False, b"\x00\x00" + MELSEC_TYPE_NAME.ljust(16))
        while True:
            yield t, lambda _: udp_frame(ews, plc.mac, plc.ip, 5000, 5000, request), None, "slmp"
            yield t + 900, lambda _: udp_frame(plc, ews.mac, ews.ip, 5000, 5000, answer), None, "slmp"
            t += OT_IDENTITY_PERIOD

    def bacnet_device(self, ews: Host, bms: Host) -> Iterator[Step]:
        """BACnet/IP: the building controller announces itself (I-Am broadcast) and the workstation
        reads its device object's identity properties (ReadPropertyMultiple)."""
        t, invoke, broadcast = 3 * US, 0, socket.inet_aton(SUBNET + "255")
        yield self.announce(bms, t - 1_000)
        while True:
            invoke = (invoke + 1) & 0xFF
            request, answer = bacnet_device_properties(invoke)
            yield t, lambda _: udp_frame(bms, BROADCAST_MAC, broadcast, 47808, 47808, bacnet_i_am()), None, "bacnet"
            yield t + 50_000, lambda r: udp_frame(ews, bms.mac, bms.ip, 47808, 47808, r), request, "bacnet"
            yield t + 52_000, lambda a: udp_frame(bms, ews.mac, ews.ip, 47808, 47808, a), answer, "bacnet"
            t += OT_IDENTITY_PERIOD

    def dcp_identify(self, ews: Host, device: Host) -> Iterator[Step]:
        """PROFINET DCP: the engineering tool's Identify All (multicast), answered by the IO device
        with its station name, type, vendor and device id, role and address."""
        t, xid = 3_500_000, 0x01000000
        identify = struct.pack("!HBBIHH", 0xFEFE, 5, 0, xid, 1, 4) + b"\xff\xff\x00\x00"
        yield self.announce(device, t - 1_000)
        while True:
            yield t, lambda x: dcp_frame(DCP_MULTICAST, ews, identify[:4] + struct.pack("!I", x) + identify[8:]), xid, \
                "profinet"
            yield t + 3_000, lambda x: dcp_frame(ews.mac, device, dcp_identify_response(device, x)), xid, "profinet"
            t, xid = t + OT_IDENTITY_PERIOD, xid + 1

    # -- cameras --------------------------------------------------------------------------------

    def camera(self, nvr: Host, cam: Host, t: int) -> Iterator[Step]:
        """RTSP: OPTIONS, DESCRIBE → 401, DESCRIBE with digest → 200 + SDP, SETUP, PLAY; then H.264
        over RTP/UDP at 25 fps (an I-frame of ~12 packets every 2 s) with a keep-alive each 30 s."""
        url = f"rtsp://{cam.ip_text}:554{CAMERA_URLS[cam.mac_text[:8]]}"
        realm, nonce = f"{cam.name}", f"{self.rng.getrandbits(64):016x}"
        digest = hashlib.md5(f"{realm}:{nonce}:{url}".encode()).hexdigest()
        session, ssrc = self.rng.getrandbits(31), self.rng.getrandbits(32)
        client_port = 50_000 + 2 * self.hosts.index(cam)
        server_port = 6_970 + 2 * self.hosts.index(cam)
        sdp = (f"v=0\r\no=- {session} 1 IN IP4 {cam.ip_text}\r\ns=Media Presentation\r\nc=IN IP4 0.0.0.0\r\n"
               "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n")
        auth = (f'Authorization: Digest username="nvr", realm="{realm}", nonce="{nonce}", uri="{url}", '
                f'response="{digest}"\r\n')
        transport = f"Transport: RTP/AVP;unicast;client_port={client_port}-{client_port + 1}"
        setup = [
            (0, rtsp_request("OPTIONS", url, 1), rtsp_response(
                1, extra="Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n")),
            (3_000, rtsp_request("DESCRIBE", url, 2, "Accept: application/sdp\r\n"), rtsp_response(
                2, "401 Unauthorized", f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}"\r\n')),
            (3_000, rtsp_request("DESCRIBE", url, 3, "Accept: application/sdp\r\n" + auth), rtsp_response(
                3, extra="Content-Type: application/sdp\r\n", body=sdp)),
            (3_000, rtsp_request("SETUP", f"{url}/trackID=1", 4, transport + "\r\n" + auth), rtsp_response(
                4, extra=f"Session: {session};timeout=60\r\n{transport};server_port={server_port}-"
                         f"{server_port + 1};ssrc={ssrc:08X}\r\n")),
            (3_000, rtsp_request("PLAY", url, 5, f"Session: {session}\r\n" + auth), rtsp_response(
                5, extra=f"Session: {session}\r\nRange: npt=0.000-\r\n")),
        ]
        conn = Tcp(self, nvr, cam, 554)  # stays open while streaming; closed when the capture ends
        t = yield from tcp_open(conn, t)
        t = yield from tcp_exchanges(conn, t, setup)
        yield from self.rtp_stream(conn, cam, nvr, server_port, client_port, ssrc, session, url, t)

    def rtp_stream(self, conn: Tcp, cam: Host, nvr: Host, sport: int, dport: int, ssrc: int,
                   session: int, url: str, t: int) -> Iterator[Step]:
        rng, pool, rtp = self.rng, self.payload_pool, struct.Struct("!BBHII")
        seq, frame_no, cseq = rng.getrandbits(16), 0, 6

        def packet(arg: tuple[int, int, bool, int]) -> bytes:
            number, stamp, marker, size = arg
            head = rtp.pack(0x80, 0xE0 if marker else 0x60, number & 0xFFFF, stamp & 0xFFFFFFFF, ssrc)
            return udp_frame(cam, nvr.mac, nvr.ip, sport, dport, head + pool[:size])

        while True:
            stamp = frame_no * 3600  # 90 kHz clock, 25 fps
            if self.hd:  # ~2 Mbit/s: I-frame ~85 kB, P-frames ~7 kB
                full = 60 if frame_no % 50 == 0 else rng.randrange(2, 8)
                sizes = [1400] * full + [rng.randrange(200, 1400)]
            else:
                sizes = [1400] * 11 + [rng.randrange(200, 1400)] if frame_no % 50 == 0 else [rng.randrange(150, 900)]
            for i, size in enumerate(sizes):
                yield t + 120 * i, packet, (seq, stamp, i == len(sizes) - 1, size), "rtp"
                seq += 1
            frame_no += 1
            if frame_no % 750 == 0:  # 30 s keep-alive on the RTSP connection
                keepalive = (0, rtsp_request("GET_PARAMETER", url, cseq, f"Session: {session}\r\n"),
                             rtsp_response(cseq, extra=f"Session: {session}\r\n"))
                yield from tcp_exchanges(conn, t + 2_000, [keepalive])
                cseq += 1
            t += 40_000 + rng.randrange(-400, 400)

    # -- cameras describing themselves ------------------------------------------------------------
    # A random source of their own keeps the rest of the plant's traffic as it was.

    def camera_identities(self, nvr: Host, ews: Host) -> list[Iterator[Step]]:
        rng = random.Random(f"identities-{self.hosts[0].mac_text}")  # per seed (the router's MAC is)
        actors = [self.onvif_identity(nvr, self.host(name), identity, rng, 3 * US + 400_000 * i)
                  for i, (name, identity) in enumerate(CAMERA_IDENTITY.items())]
        actors += [self.upnp_announce(nvr, self.host(UPNP_CAMERA[0]), rng, 5 * US),
                   self.https_session(ews, self.host(TLS_CAMERA), rng, 6 * US)]
        return actors

    def onvif_identity(self, nvr: Host, cam: Host, identity: tuple[str, ...], rng: random.Random,
                       t: int) -> Iterator[Step]:
        """The NVR asks the camera's ONVIF device service who it is (GetDeviceInformation)."""
        request = http_message("POST /onvif/device_service HTTP/1.1", {
            "Host": cam.ip_text, "Content-Type": "application/soap+xml; charset=utf-8"}, ONVIF_GET_DEVICE_INFORMATION)
        server = {"Server": identity[5]} if identity[5] else {}
        response = http_message("HTTP/1.1 200 OK", {**server, "Content-Type": "application/soap+xml; charset=utf-8"},
                                onvif_device_information(identity))
        while True:
            yield from tcp_session(Tcp(self, nvr, cam, 80, rng), t, [(0, request, response)])
            t += IDENTITY_PERIOD

    def upnp_announce(self, nvr: Host, cam: Host, rng: random.Random, t: int) -> Iterator[Step]:
        """The camera announces itself over SSDP; the NVR fetches its UPnP device description."""
        _, manufacturer, model_name, model_number, serial = UPNP_CAMERA
        location = f"http://{cam.ip_text}:80/rootdesc.xml"
        notify = http_message("NOTIFY * HTTP/1.1", {
            "HOST": "239.255.255.250:1900", "CACHE-CONTROL": "max-age=1800", "LOCATION": location,
            "NT": "upnp:rootdevice", "NTS": "ssdp:alive", "SERVER": "Linux/4.9 UPnP/1.0 AXIS/10.12.114",
            "USN": f"uuid:Upnp-BasicDevice-1_0-{serial}::upnp:rootdevice"})
        request = http_message("GET /rootdesc.xml HTTP/1.1", {"Host": f"{cam.ip_text}:80", "User-Agent": "NVR/4.1"})
        response = http_message("HTTP/1.1 200 OK", {"Content-Type": 'text/xml; charset="utf-8"'},
                                upnp_description(cam, manufacturer, model_name, model_number, serial))
        while True:
            yield t, lambda _: udp_frame(cam, WSD_MAC, WSD_IP, 1900, 1900, notify), None, "ssdp"
            yield from tcp_session(Tcp(self, nvr, cam, 80, rng), t + 50_000, [(0, request, response)])
            t += IDENTITY_PERIOD

    def https_session(self, client: Host, cam: Host, rng: random.Random, t: int) -> Iterator[Step]:
        """The engineering workstation opens the camera's web page over HTTPS (TLS 1.2: the camera's
        certificate travels in the clear), then a few encrypted records."""
        finish = tls_record(22, rng.randbytes(70)) + tls_record(20, b"\x01") + tls_record(22, rng.randbytes(40))
        exchanges = [(0, tls_client_hello(rng), tls_server_flight(rng, CAMERA_CERT)),
                     (2_000, finish, tls_record(20, b"\x01") + tls_record(22, rng.randbytes(40))),
                     (3_000, tls_record(23, rng.randbytes(420)), tls_record(23, rng.randbytes(1200)))]
        while True:
            yield from tcp_session(Tcp(self, client, cam, 443, rng), t, exchanges)
            t += IDENTITY_PERIOD

    # -- incidents ------------------------------------------------------------------------------

    def s7_maintenance(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """The engineering workstation reads a PLC, then sends it a STOP (CPU to STOP mode)."""
        yield from tcp_session(Tcp(self, ews, plc, 102), t, self.s7_exchanges(8, 500_000, stop_at=5))

    def modbus_write(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """Write multiple registers (FC 16) then a single register (FC 6) from the workstation."""
        values = struct.pack("!4H", 100, 250, 0, 1)
        exchanges = [
            (0, modbus(1, 1, b"\x03\x00\x64\x00\x04"), modbus(1, 1, b"\x03\x08" + bytes(8))),
            (400_000, modbus(2, 1, b"\x10\x00\x64\x00\x04\x08" + values), modbus(2, 1, b"\x10\x00\x64\x00\x04")),
            (400_000, modbus(3, 1, b"\x06\x00\xc8\x00\x01"), modbus(3, 1, b"\x06\x00\xc8\x00\x01")),
        ]
        yield from tcp_session(Tcp(self, ews, plc, 502), t, exchanges)

    def modbus_register_write(self, hmi: Host, plc: Host, t: int) -> Iterator[Step]:
        """An HMI that only ever read this PLC writes a set point (FC 6) on its own connection."""
        yield from tcp_session(Tcp(self, hmi, plc, 502), t, [
            (0, modbus(1, 1, b"\x06\x00\x10\x01\xf4"), modbus(1, 1, b"\x06\x00\x10\x01\xf4"))])

    def s7_link(self, hmi: Host, plc: Host, t: int) -> Iterator[Step]:
        """An HMI reads a PLC it never talked to."""
        yield from tcp_session(Tcp(self, hmi, plc, 102), t, self.s7_exchanges(5, 200_000))

    def s7_restart(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """The engineering workstation starts the stopped PLC again."""
        exchanges = [(0, COTP_CR, COTP_CC), (3_000, s7_job(1, S7_SETUP), s7_ack(1, S7_SETUP)),
                     (300_000, s7_job(2, S7_START), s7_ack(2, b"\x28"))]
        yield from tcp_session(Tcp(self, ews, plc, 102), t, exchanges)

    def s7_download(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """The engineering workstation downloads OB1 into a PLC and activates it."""
        exchanges = [(0, COTP_CR, COTP_CC), (3_000, s7_job(1, S7_SETUP), s7_ack(1, S7_SETUP)),
                     (200_000, s7_job(2, S7_REQUEST_DOWNLOAD), s7_ack(2, b"\x1a")),
                     (900_000, s7_job(3, S7_INSERT_BLOCK), s7_ack(3, b"\x28"))]
        yield from tcp_session(Tcp(self, ews, plc, 102), t, exchanges)

    def firmware_update(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """ControlFLASH-style update: RegisterSession, then the firmware written in chunks to the
        Non-Volatile Storage object (CIP class 0xA1); the PLC reports its new revision afterwards."""
        session = self.rng.getrandbits(32)
        exchanges = [(0, enip(0x65, 0, b"\x01\x00\x00\x00"), enip(0x65, session, b"\x01\x00\x00\x00")),
                     (50_000, enip(0x6F, session, enip_rr(b"\x4b" + CIP_NVS + struct.pack("<I", 4_194_304))),
                      enip(0x6F, session, enip_rr(b"\xcb\x00\x00\x00")))]
        for chunk in range(8):
            data = struct.pack("<I", chunk * 480) + self.payload_pool[:480]
            exchanges.append((40_000, enip(0x6F, session, enip_rr(b"\x4d" + CIP_NVS + data)),
                              enip(0x6F, session, enip_rr(b"\xcd\x00\x00\x00"))))
        yield from tcp_session(Tcp(self, ews, plc, 44818), t, exchanges)

    def telnet_login(self, ews: Host, plc: Host, t: int) -> Iterator[Step]:
        """A cleartext telnet login to a PLC's maintenance shell."""
        exchanges = [
            (0, b"", b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"),
            (20_000, b"\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27", b"\r\nlogin: "),
            (1_500_000, b"admin\r\n", b"Password: "),
            (2_000_000, b"melsec123\r\n", b"\r\nWelcome to iQ-R maintenance shell\r\n> "),
            (3_000_000, b"show version\r\n", b"R04ENCPU firmware 1.32\r\n> "),
            (2_000_000, b"exit\r\n", b"bye\r\n"),
        ]
        yield from tcp_session(Tcp(self, ews, plc, 23), t, exchanges)

    def rogue_laptop(self, laptop: Host, _: None, t: int) -> Iterator[Step]:
        """An unknown laptop joins: DHCP lease, ARP sweep of the /24, Internet name lookups (one of
        them an indicator's domain)."""
        yield t, lambda h: arp_frame(1, h, bytes(6), h.ip), laptop, "arp"
        yield from self.dhcp_lease(laptop, t + 10_000)
        t += 200_000
        live = {h.ip: h for h in self.hosts if h is not laptop}
        for num in range(1, 255):
            target_ip = socket.inet_aton(f"{SUBNET}{num}")
            yield t, lambda ip: arp_frame(1, laptop, bytes(6), ip), target_ip, "arp"
            if target_ip in live:
                yield t + 300, lambda h: arp_frame(2, h, laptop.mac, laptop.ip), live[target_ip], "arp"
            t += 5_000
        for name in ("www.msftconnecttest.com", "login.microsoftonline.com", INDICATOR_DOMAIN):
            yield from self.dns_lookup(laptop, name, None, t)
            t += 250_000

    def port_scan(self, scanner: Host, target: Host, t: int) -> Iterator[Step]:
        """A SYN scan of common ports from one source port: closed ports answer RST, the open one
        (SCAN_OPEN) SYN-ACK, which the scanner resets."""
        sport = self.ephemeral_port()
        for port in (*SCAN_PORTS, SCAN_OPEN):
            seq, label = self.rng.getrandbits(32), PORT_LABELS.get(port, "scan")
            yield t, lambda a: tcp_frame(scanner, target, sport, a[0], a[1], 0, SYN), (port, seq), label
            if port == SCAN_OPEN:
                reply_seq = self.rng.getrandbits(32)
                yield t + 200, lambda a: tcp_frame(target, scanner, a[0], sport, a[2], (a[1] + 1) & SEQ, SYN_ACK), \
                    (port, seq, reply_seq), label
                yield t + 400, lambda a: tcp_frame(scanner, target, sport, a[0], (a[1] + 1) & SEQ, 0, RST), \
                    (port, seq), label
            else:
                yield t + 200, lambda a: tcp_frame(target, scanner, a[0], sport, 0, (a[1] + 1) & SEQ, RST_ACK), \
                    (port, seq), label
            t += 2_000

    def camera_default_login(self, client: Host, cam: Host, t: int) -> Iterator[Step]:
        """The camera's web API answers a login with its factory password."""
        request = (f"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: {cam.ip_text}\r\n"
                   f"Authorization: {DEFAULT_LOGIN}\r\nUser-Agent: Mozilla/5.0\r\n\r\n").encode()
        body = b"<DeviceInfo><deviceName>IP CAMERA</deviceName><model>DS-2CD2143G0-I</model></DeviceInfo>"
        response = (b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: application/xml\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        yield from tcp_session(Tcp(self, client, cam, 80), t, [(0, request, response)])

    def smb1_session(self, client: Host, server: Host, t: int) -> Iterator[Step]:
        """A client negotiates SMBv1 (NT LM 0.12 only) with the file server, which accepts it."""
        yield from tcp_session(Tcp(self, client, server, 445), t, [(0, SMB1_NEGOTIATE, SMB1_NEGOTIATED)])

    def renamed(self, hmi: Host, _: None, t: int) -> Iterator[Step]:
        """An HMI renews its lease under another host name (replaced or reinstalled)."""
        yield from self.dhcp_lease(hmi, t, f"{hmi.name.upper()}-NEW")

    def outbound(self, client: Host, server: Host, t: int) -> Iterator[Step]:
        """A site device connects out to a web server on the Internet."""
        yield from tcp_session(Tcp(self, client, server, 443), t, [])

    def inbound(self, client: Host, server: Host, t: int) -> Iterator[Step]:
        """A host on the Internet reaches the NVR's web page through a forwarded port."""
        request = f"GET / HTTP/1.1\r\nHost: {server.ip_text}\r\nUser-Agent: zgrab/0.x\r\n\r\n".encode()
        yield from tcp_session(Tcp(self, client, server, 80), t, [
            (0, request, b"HTTP/1.1 200 OK\r\nServer: NVR-Web\r\nContent-Length: 0\r\n\r\n")])

    def rdp_from_outside(self, client: Host, server: Host, t: int) -> Iterator[Step]:
        """An RDP session from the Internet into the engineering workstation (then TLS)."""
        exchanges = [(0, RDP_REQUEST, RDP_CONFIRM)]
        exchanges += [(300_000, self.payload_pool[:200], self.payload_pool[200:1400]) for _ in range(5)]
        yield from tcp_session(Tcp(self, client, server, 3389), t, exchanges)


# -- writing --------------------------------------------------------------------------------------

def write_pcap(path: str | Path, packets: int = 100_000, seed: int = 1, start: float | None = None,
               risky: bool = True, cameras: bool = False) -> dict:
    """Write ``packets`` frames of simulated plant traffic (camera-heavy if ``cameras``) to a pcap at
    ``path``; return a summary.

    Same arguments → byte-identical file. The capture spans about ``packets / NOMINAL_PPS`` seconds
    (``CAMERA_SITE_PPS`` for the camera-heavy site) from ``start`` (default 2026-01-05T00:00:00Z).
    """
    if packets < 1:
        raise ValueError("packets must be at least 1")
    start_us = int(round((EPOCH if start is None else start) * US))
    sim = Simulation(seed, packets * US // (CAMERA_SITE_PPS if cameras else NOMINAL_PPS), risky, cameras)
    heap: list = []
    order = 0

    def schedule(actor: Iterator[Step]) -> None:
        nonlocal order
        step = next(actor, None)
        if step is not None:
            heapq.heappush(heap, (step[0], order, step, actor))
            order += 1

    for actor in sim.actors():
        schedule(actor)

    protocols: Counter[str] = Counter()
    transports: Counter[str] = Counter()
    written = wire_bytes = 0
    last = 0
    chunks: list[bytes] = []
    pending = 0
    with open(path, "wb") as out:
        out.write(PCAP_HEADER)

        def emit(t: int, frame: bytes, label: str) -> None:
            nonlocal written, wire_bytes, last, pending
            last = max(last, t)
            stamp = start_us + last
            size = len(frame)
            chunks.append(PCAP_RECORD.pack(stamp // US, stamp % US, size, size))
            chunks.append(frame)
            written += 1
            wire_bytes += size
            pending += size + 16
            protocols[label] += 1
            transports[_transport(frame)] += 1
            if pending >= FLUSH_BYTES:
                out.write(b"".join(chunks))
                chunks.clear()
                pending = 0

        while heap and written + sim.reserve + 5 < packets:
            t, _, (_, build, arg, label), actor = heapq.heappop(heap)
            emit(t, build(arg), label)
            schedule(actor)
        # the budget is nearly spent: close every open TCP connection, then fill up with ARP
        for conn in list(sim.open_conns):
            for build, arg in conn.remaining():
                last += 300
                emit(last, build(arg), conn.label)
        gateway, hosts = sim.hosts[0], sim.hosts[1:]
        while written < packets:
            last += 1_000
            emit(last, arp_frame(1, gateway, bytes(6), hosts[written % len(hosts)].ip), "arp")
        out.write(b"".join(chunks))

    return {
        "path": str(path),
        "packets": written,
        "bytes": wire_bytes,
        "file_bytes": len(PCAP_HEADER) + 16 * written + wire_bytes,
        "start": start_us / US,
        "end": (start_us + last) / US,
        "seed": seed,
        "devices": [{"name": h.name, "role": h.role, "ip": h.ip_text, "mac": h.mac_text,
                     "vendor": oui.vendor(h.mac_text) or ""} for h in sim.hosts],
        "protocols": dict(sorted(protocols.items())),
        "transports": dict(sorted(transports.items())),
        "incidents": sim.incidents(start_us),
    }


def _transport(frame: bytes) -> str:
    if frame[12:14] == b"\x08\x06":
        return "arp"
    return {6: "tcp", 17: "udp"}.get(frame[23], "other") if frame[12:14] == b"\x08\x00" else "other"
