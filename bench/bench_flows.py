"""pcap → flows throughput: mieruka's sensor pipeline against tshark, a dpkt loop and Scapy.

    .venv/bin/python bench/bench_flows.py [--packets 1000000] [--scapy-packets 20000]

All tools read the same simulated plant capture (sensor.simulate.write_pcap) in one run; the
output is packets/s per tool and our speed as a ratio to each. Scapy is timed on a prefix of
the file and its rate extrapolated (it would take minutes on the whole file). numba compile
time is measured separately, in a child process with an empty numba cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor.decode import registry  # noqa: E402
from sensor.meter.pipeline import iter_intervals  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402


def ours(path: Path, decoding: bool = True) -> tuple[int, int]:
    """(packets, flow records) through the pipeline: read, header decode, flow table, records, and
    (when ``decoding``) payload detection and the application-protocol decoders."""
    packets = records = 0
    for iv in iter_intervals([path], protocols=registry.PROTOCOLS if decoding else ()):
        packets += iv.counters["packets"]
        records += len(iv.flows["uid"])
    return packets, records


def dpkt_flows(path: Path, limit: int | None = None) -> tuple[int, int]:
    """The usual dpkt loop: parse each frame, count packets and bytes per bidirectional 5-tuple."""
    import socket

    import dpkt

    flows: dict[tuple, list[int]] = {}
    n = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            n += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                fam = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
                a = (socket.inet_ntop(fam, ip.src), ip.data.sport)
                b = (socket.inet_ntop(fam, ip.dst), ip.data.dport)
                key = (ip.p, *sorted((a, b)))
            else:
                key = (eth.type, *sorted((eth.src, eth.dst)))
            stats = flows.setdefault(key, [0, 0])
            stats[0] += 1
            stats[1] += len(buf)
            if limit and n >= limit:
                break
    return n, len(flows)


def scapy_flows(path: Path, limit: int) -> tuple[int, int]:
    """Scapy's PcapReader with full dissection, same flow dict, on the first ``limit`` packets."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import PcapReader

    flows: dict[tuple, int] = {}
    n = 0
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            n += 1
            if IP in pkt and (TCP in pkt or UDP in pkt):
                l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
                key = (pkt[IP].proto, *sorted(((pkt[IP].src, l4.sport), (pkt[IP].dst, l4.dport))))
            else:
                key = (pkt.type if hasattr(pkt, "type") else 0, *sorted((pkt.src, pkt.dst)))
            flows[key] = flows.get(key, 0) + 1
            if n >= limit:
                break
    return n, len(flows)


def tshark_flows(path: Path) -> int:
    """Conversations tshark lists with its TCP and UDP conversation statistics."""
    out = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if "<->" in line)


def cold_compile_seconds(sample: Path) -> float:
    """First call in a fresh interpreter with an empty numba cache: import + JIT compile + run."""
    code = (
        "import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]);"
        "from sensor.meter.pipeline import iter_intervals; list(iter_intervals([sys.argv[2]]));"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(sample)], env=env,
                             capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed(fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"plant-{args.packets}.pcap"
    sample = args.workdir / "plant-1000.pcap"
    for p, n in ((path, args.packets), (sample, 1000)):
        if not p.exists():
            write_pcap(p, packets=n, seed=1)
    size_mb = path.stat().st_size / 1e6
    print(f"capture: {path} ({args.packets:,} packets, {size_mb:.0f} MB), cpu: {os.cpu_count()} cores")

    compile_s = cold_compile_seconds(sample)
    warm_s, _ = timed(ours, sample)  # loads the compiled kernels from the numba cache
    rows = []
    ours_s, (n, records) = timed(ours, path, False)
    rows.append(("mieruka flows (steady state, decoders off)", n, ours_s, f"{records:,} flow records", False))
    full_s, _ = timed(ours, path, True)
    rows.append(("mieruka flows + protocol decoders (steady state)", n, full_s, "events and facts too", False))
    if shutil.which("tshark"):
        tshark_s, convs = timed(tshark_flows, path)
        rows.append(("tshark -q -z conv,tcp -z conv,udp", args.packets, tshark_s, f"{convs:,} conversations", False))
    dpkt_s, (dn, dflows) = timed(dpkt_flows, path)
    rows.append(("dpkt loop + flow dict", dn, dpkt_s, f"{dflows:,} flows", False))
    scapy_s, (sn, sflows) = timed(scapy_flows, path, args.scapy_packets)
    rows.append((f"Scapy PcapReader ({sn:,}-packet prefix, extrapolated)", sn, scapy_s, f"{sflows:,} flows", True))

    our_rate, full_rate = n / ours_s, n / full_s
    if not shutil.which("tshark"):
        print("tshark not installed: skipped (apt-get install -y tshark)")
    print(f"numba: cold first call (compile, empty cache) {compile_s:.1f} s; warm first call (cached) {warm_s:.2f} s")
    print(f"{'tool':58} {'packets':>10} {'seconds':>8} {'pkt/s':>12} {'flows ×':>8} {'decode ×':>9}  notes")
    for name, count, secs, note, extrapolated in rows:
        rate = count / secs
        print(f"{name:58} {count:>10,} {secs:>8.2f} {rate:>12,.0f} {our_rate / rate:>8.1f} {full_rate / rate:>9.1f}  {note}"
              + ("; rate extrapolated" if extrapolated else ""))


if __name__ == "__main__":
    main()
