"""A capture of many concurrent flows: the flow-table and memory load of a busy site.

    .venv/bin/python bench/concurrent_flows.py OUT.pcap [--flows 100000] [--rounds 4]

``flows`` conversations between 2,000 clients and 200 Modbus/TCP and SNMP servers, all open at
once: every flow sends one packet per round, the rounds follow each other over ``rounds`` × 2 s, so
no flow times out before the file ends. Four flows in five are TCP (handshake, then a Modbus
request and its answer in turn), the rest UDP. Same arguments → byte-identical file.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor.simulate import PCAP_HEADER, PCAP_RECORD, Host, tcp_frame, udp_frame  # noqa: E402

START_US = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
ROUND_US = 2_000_000  # within Zeek's 5 s TCP attempt timeout: a SYN-ACK joins its SYN
SYN, ACK, PSH_ACK, SYN_ACK = 0x02, 0x10, 0x18, 0x12
READ_HOLDING = bytes.fromhex("0001000000060103000a0002")  # Modbus read holding registers
ANSWER = bytes.fromhex("00010000000701030400010002")


def _hosts(count: int, net: int, role: str) -> list[Host]:
    return [Host(f"{role}{i}", role, f"10.{net}.{i >> 8}.{i & 0xFF}", f"02:{net:02x}:00:00:{i >> 8:02x}:{i & 0xFF:02x}",
                 False, 64) for i in range(count)]


def _packet(rnd: int, tcp: bool, client: Host, server: Host, sport: int) -> bytes:
    """The flow's packet of round ``rnd``: SYN, SYN-ACK, ACK+request, answer, … (TCP) or a request
    and its answer in turn (UDP, SNMP port)."""
    if not tcp:
        src, dst = (client, server) if rnd % 2 == 0 else (server, client)
        ports = (sport, 161) if rnd % 2 == 0 else (161, sport)
        return udp_frame(src, dst.mac, dst.ip, *ports, b"\x30\x26" + bytes(38))
    if rnd == 0:
        return tcp_frame(client, server, sport, 502, 1000, 0, SYN)
    if rnd == 1:
        return tcp_frame(server, client, 502, sport, 5000, 1001, SYN_ACK)
    k = (rnd - 2) // 2  # request/answer pairs so far
    if rnd % 2 == 0:
        return tcp_frame(client, server, sport, 502, 1001 + k * 12, 5001 + k * 13, PSH_ACK, READ_HOLDING)
    return tcp_frame(server, client, 502, sport, 5001 + k * 13, 1001 + (k + 1) * 12, PSH_ACK, ANSWER)


def write(path: Path, flows: int = 100_000, rounds: int = 4, seed: int = 1) -> int:
    """Write the capture; return its packet count."""
    rng = random.Random(seed)
    clients, servers = _hosts(2000, 1, "client"), _hosts(200, 2, "server")
    plan = [(rng.random() < 0.8, clients[i % len(clients)], servers[rng.randrange(len(servers))], 10000 + i // len(clients))
            for i in range(flows)]
    step = ROUND_US // max(flows, 1)
    with open(path, "wb") as out:
        out.write(PCAP_HEADER)
        for rnd in range(rounds):
            for i, (tcp, client, server, sport) in enumerate(plan):
                frame = _packet(rnd, tcp, client, server, sport)
                sec, usec = divmod(START_US + rnd * ROUND_US + i * step, 1_000_000)
                out.write(PCAP_RECORD.pack(sec, usec, len(frame), len(frame)) + frame)
    return flows * rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    if args.flows < 1 or args.rounds < 1:
        ap.error("--flows and --rounds must be at least 1")
    print(f"{write(args.out, args.flows, args.rounds):,} packets → {args.out}")


if __name__ == "__main__":
    main()
