"""pcap → flows throughput: mieruka's sensor pipeline against nDPI's ndpiReader, tshark, a dpkt loop and Scapy.

    .venv/bin/python bench/bench_flows.py [--packets 1000000] [--scapy-packets 20000]
    .venv/bin/python bench/bench_flows.py --concurrent 100000   # 100,000 flows open at once

All tools read the same capture in one run: the simulated plant (sensor.simulate.write_pcap) or,
with ``--concurrent``, bench/concurrent_flows.py's busy site. The output is packets/s per tool
and our speed as a ratio to each; ours, ndpiReader and tshark each run as a whole process of
their own, so their maximum RSS is printed beside them (ours as a ratio to each peer's too). Ours
runs as ``mieruka-sensor`` does (``pipeline.lean_process``: pyarrow without pandas, which the
``sensor`` extra does not install), so a dev or core install measures what a sensor box runs; with
``--concurrent`` also as a running sensor batches it (``live``: interval ends while the flows are
open, where the end of the file closes them all at once), and the same without encoding the batches
(the pipeline's share of that).
Scapy is timed on a prefix of the file and its rate extrapolated (it would take minutes on the
whole file). numba compile time is measured separately, in a child process with an empty numba cache.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy's import, as mieruka-sensor (sensor/cli.py)

from sensor.decode import registry  # noqa: E402
from sensor import wire  # noqa: E402
from sensor.meter.pipeline import iter_batches, iter_intervals, lean_process  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402

LIVE_INTERVAL = 2.0  # s: concurrent_flows' rounds are 2 s apart, so every flow crosses interval ends before the file's


def ours(path: Path, decoding: bool = True) -> tuple[int, int]:
    """(packets, flow records) through the pipeline: read, header decode, flow table, records, and
    (when ``decoding``) payload detection and the application-protocol decoders, their events folded
    per interval as the sensor sends them."""
    packets = records = 0
    for iv in iter_intervals([path], protocols=registry.PROTOCOLS if decoding else (), folded=True):
        packets += iv.counters["packets"]
        records += iv.flows.num_rows
    return packets, records


def live(path: Path, encoding: bool = True) -> tuple[int, int]:
    """``ours`` as a running sensor (sensor/site/runner.py) meets the same packets: LIVE_INTERVAL batches
    with the observer on, each encoded as it is spooled (unless not ``encoding``: the pipeline's share)
    and then let go, so the flows are still open at most interval ends (the high-water mark of a live
    sensor, where ``ours`` sees mostly the end of input)."""
    packets = records = 0
    for batch in iter_batches([path], LIVE_INTERVAL, sensor="bench", observer=Observer()):
        packets += batch.counters["packets"]
        records += batch.tables["flows"].num_rows
        if encoding:
            wire.encode(batch)
        batch = None
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


def measured(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, max RSS in MB, stdout) of ``cmd`` run as a process of its own."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)
    return seconds, usage.ru_maxrss / 1024, out


def ours_process(path: Path, child: str) -> tuple[float, float, int, int]:
    """(seconds, max RSS MB, packets, flow records) of ``ours`` (child "flows" or "decoders") or ``live``
    (child "live", or "batches": not encoded) in a fresh interpreter."""
    seconds, rss, out = measured([sys.executable, __file__, "--child", child, str(path)])
    packets, records = map(int, out.split())
    return seconds, rss, packets, records


def tshark_flows(path: Path) -> tuple[float, float, int]:
    """(seconds, max RSS MB, conversations tshark lists with its TCP and UDP conversation statistics)."""
    seconds, rss, out = measured(["tshark", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"])
    return seconds, rss, sum(1 for line in out.splitlines() if "<->" in line)


def ndpi_flows(path: Path) -> tuple[float, float, int]:
    """(seconds, max RSS MB, unique flows) of nDPI's ndpiReader (flow table and protocol detection)."""
    seconds, rss, out = measured(["ndpiReader", "-i", str(path)])
    found = re.search(r"Unique flows:\s+(\d+)", out)
    return seconds, rss, int(found[1]) if found else -1


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
    ap.add_argument("--concurrent", type=int, default=0, help="read a capture of this many concurrent flows instead")
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    ap.add_argument("--child", choices=("flows", "decoders", "live", "batches"), help=argparse.SUPPRESS)
    ap.add_argument("capture", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # one measured run of ours, as mieruka-sensor runs it: print packets and flow records
        lean_process()
        print(*(live(args.capture, args.child == "live") if args.child in ("live", "batches")
                else ours(args.capture, args.child == "decoders")))
        return
    from bench.concurrent_flows import write as write_concurrent  # (not in the measured child: 33 ms)
    from sensor.simulate import write_pcap

    args.workdir.mkdir(parents=True, exist_ok=True)
    sample = args.workdir / "plant-1000.pcap"
    if args.concurrent:
        path = args.workdir / f"concurrent-{args.concurrent}.pcap"
        if not path.exists():
            write_concurrent(path, args.concurrent)
    else:
        path = args.workdir / f"plant-{args.packets}.pcap"
        if not path.exists():
            write_pcap(path, packets=args.packets, seed=1)
    if not sample.exists():
        write_pcap(sample, packets=1000, seed=1)
    size_mb = path.stat().st_size / 1e6
    print(f"capture: {path} ({size_mb:.0f} MB), cpu: {os.cpu_count()} cores")

    compile_s = cold_compile_seconds(sample)
    warm_s, _ = timed(ours, sample)  # loads the compiled kernels from the numba cache
    rows = []
    ours_s, ours_rss, n, records = ours_process(path, "flows")
    rows.append(("mieruka flows (process, decoders off)", n, ours_s, ours_rss, f"{records:,} flow records", False))
    full_s, full_rss, _, _ = ours_process(path, "decoders")
    rows.append(("mieruka flows + protocol decoders (process)", n, full_s, full_rss, "events and facts too", False))
    if args.concurrent:
        live_s, live_rss, _, live_records = ours_process(path, "live")
        rows.append((f"mieruka as a live sensor ({LIVE_INTERVAL:g} s batches, encoded)", n, live_s, live_rss,
                     f"{live_records:,} flow records", False))
        batches_s, batches_rss, _, _ = ours_process(path, "batches")
        rows.append(("  the same, batches not encoded", n, batches_s, batches_rss, "the pipeline's share", False))
    missing = [tool for tool in ("ndpiReader", "tshark") if not shutil.which(tool)]
    if shutil.which("ndpiReader"):
        ndpi_s, ndpi_rss, nflows = ndpi_flows(path)
        rows.append(("ndpiReader -i (nDPI)", n, ndpi_s, ndpi_rss, f"{nflows:,} flows", False))
    if shutil.which("tshark"):
        tshark_s, tshark_rss, convs = tshark_flows(path)
        rows.append(("tshark -q -z conv,tcp -z conv,udp", n, tshark_s, tshark_rss, f"{convs:,} conversations", False))
    dpkt_s, (dn, dflows) = timed(dpkt_flows, path)
    rows.append(("dpkt loop + flow dict (in process)", dn, dpkt_s, None, f"{dflows:,} flows", False))
    scapy_s, (sn, sflows) = timed(scapy_flows, path, args.scapy_packets)
    rows.append((f"Scapy PcapReader ({sn:,}-packet prefix, in process)", sn, scapy_s, None, f"{sflows:,} flows", True))

    our_rate, full_rate = n / ours_s, n / full_s
    for tool, package in (("ndpiReader", "libndpi-bin"), ("tshark", "tshark")):
        if tool in missing:
            print(f"{tool} not installed: skipped (apt-get install -y {package})")
    print(f"numba: cold first call (compile, empty cache) {compile_s:.1f} s; warm first call (cached) {warm_s:.2f} s")
    print(f"{'tool':52} {'packets':>10} {'seconds':>8} {'pkt/s':>11} {'max RSS':>8} {'flows ×':>8} {'decode ×':>9}"
          f" {'RSS ×':>6}  notes")
    for name, count, secs, rss, note, extrapolated in rows:
        rate = count / secs
        rss_text = f"{rss:>5.0f} MB" if rss else f"{'-':>8}"
        rss_ratio = f"{full_rss / rss:>6.2f}" if rss else f"{'-':>6}"
        print(f"{name:52} {count:>10,} {secs:>8.2f} {rate:>11,.0f} {rss_text} {our_rate / rate:>8.2f} "
              f"{full_rate / rate:>9.2f} {rss_ratio}  {note}" + ("; rate extrapolated" if extrapolated else ""))
    print("flows × / decode ×: our rate (decoders off / on) over the tool's; RSS ×: our max RSS (decoders on) over the tool's")


if __name__ == "__main__":
    main()
