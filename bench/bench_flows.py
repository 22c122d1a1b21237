"""pcap → flows throughput: mieruka's sensor pipeline against nDPI's ndpiReader, tshark, a dpkt loop and Scapy.

    .venv/bin/python bench/bench_flows.py [--packets 1000000] [--scapy-packets 20000]
    .venv/bin/python bench/bench_flows.py --concurrent 100000   # 100,000 flows open at once
    .venv/bin/python bench/bench_flows.py --dense                # and the plant at 1 M packets/s

All tools read the same capture in one run: the simulated plant (sensor.simulate.write_pcap) or,
with ``--concurrent``, bench/concurrent_flows.py's busy site. The output is packets/s per tool
and our speed as a ratio to each; ours, ndpiReader and tshark each run as a whole process of
their own, so their CPU time (user + system, as ``/usr/bin/time`` reports it) and maximum RSS are printed
beside them (our RSS as a ratio to each peer's too; each runs under ``/usr/bin/time``); ours also times its pipeline in process (CPU,
start-up excluded: imports, kernels loaded). ``--dense`` runs ours, ndpiReader and tshark again on the
plant's packets dense in time (bench/dense_capture.py: 1 M packets a second, as a busy mirror port
delivers them), where a sensor meets one interval end instead of one every ~18,000 packets. Ours
runs as ``mieruka-sensor`` does (``pipeline.lean_process``: pyarrow without pandas, which the
``sensor`` extra does not install), so a dev or core install measures what a sensor box runs; with
``--concurrent`` also as a running sensor batches it (``live``: interval ends while the flows are
open, where the end of the file closes them all at once), and the same without encoding the batches
(the pipeline's share of that).
Scapy is timed on a prefix of the file and its rate extrapolated (it would take minutes on the
whole file). numba compile time is measured separately, in a child process with an empty numba cache.
"""

from __future__ import annotations

import gc

gc.disable()  # while the imports run: none of what they make is garbage (as mieruka-sensor, sensor/cli.py)

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy's import, as mieruka-sensor (sensor/cli.py)
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # before pyarrow's, as mieruka-sensor

from sensor.decode import registry  # noqa: E402
from sensor import wire  # noqa: E402
from sensor.meter.pipeline import iter_batches, iter_intervals, lean_process  # noqa: E402

gc.freeze()  # (out of every later collection's way)
gc.enable()

# (the modules only the bench itself uses are imported where used: the measured child never imports them)

GNU_TIME = "/usr/bin/time"  # Debian's ``time``
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
    from sensor.meter.observe import Observer

    packets = records = 0
    for batch in iter_batches([path], LIVE_INTERVAL, sensor="bench", observer=Observer()):
        packets += batch.counters["packets"]
        records += batch.tables["flows"].num_rows
        if encoding:
            wire.encode(batch, consume=True)  # as the runner's producer encodes it
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


def measured(cmd: list[str]) -> tuple[float, float, float, str]:
    """(seconds, CPU seconds, max RSS in MB, stdout) of ``cmd`` run as a process of its own under GNU time.
    (``os.wait4`` on a child of this process reports at least this process's own maximum RSS: Popen's
    vfork shares it until the exec, which keeps its high-water mark.)"""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("r") as report:
        t = time.perf_counter()
        out = subprocess.run([GNU_TIME, "-o", report.name, "-f", "%U %S %M", *cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, check=True).stdout
        seconds = time.perf_counter() - t
        user, system, rss_kb = report.read().split()[-3:]
    return seconds, float(user) + float(system), int(rss_kb) / 1024, out


def ours_process(path: Path, child: str) -> tuple[float, float, float, float, int, int]:
    """(seconds, CPU seconds, CPU seconds of the pipeline in process, max RSS MB, packets, flow records) of
    ``ours`` (child "flows" or "decoders") or ``live`` (child "live", or "batches": not encoded) in a fresh
    interpreter."""
    seconds, cpu, rss, out = measured([sys.executable, __file__, "--child", child, str(path)])
    packets, records, pipeline_cpu = out.split()
    return seconds, cpu, float(pipeline_cpu), rss, int(packets), int(records)


def tshark_flows(path: Path) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds, max RSS MB, conversations tshark lists with its TCP and UDP conversation statistics)."""
    seconds, cpu, rss, out = measured(["tshark", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"])
    return seconds, cpu, rss, sum(1 for line in out.splitlines() if "<->" in line)


def ndpi_flows(path: Path) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds, max RSS MB, unique flows) of nDPI's ndpiReader (flow table and protocol detection)."""
    import re

    seconds, cpu, rss, out = measured(["ndpiReader", "-i", str(path)])
    found = re.search(r"Unique flows:\s+(\d+)", out)
    return seconds, cpu, rss, int(found[1]) if found else -1


def cold_compile_seconds(sample: Path) -> float:
    """First call in a fresh interpreter on numba's JIT with an empty cache (the fallback when the ahead-of-time
    build is missing or stale): import + compile + run."""
    import subprocess
    import tempfile

    code = (
        "import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]);"
        "from sensor.meter.pipeline import iter_intervals; list(iter_intervals([sys.argv[2]]));"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, MIERUKA_SENSOR_AOT="0")
        out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(sample)], env=env,
                             capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed(fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def processes(path: Path, label: str, children: tuple[str, ...]) -> list[tuple]:
    """Table rows of ours (each of ``children``), ndpiReader and tshark on ``path``, each a process of its own."""
    import shutil

    names = {"flows": "mieruka flows (process, decoders off)",
             "decoders": "mieruka flows + protocol decoders (process)",
             "live": f"mieruka as a live sensor ({LIVE_INTERVAL:g} s batches, encoded)",
             "batches": "  the same, batches not encoded (the pipeline's share)"}
    rows = []
    for child in children:
        seconds, cpu, pipeline_cpu, rss, n, records = ours_process(path, child)
        note = "events and facts too" if child == "decoders" else f"{records:,} flow records"
        rows.append((names[child] + label, child, n, seconds, cpu, pipeline_cpu, rss, note))
    if shutil.which("ndpiReader"):
        seconds, cpu, rss, nflows = ndpi_flows(path)
        rows.append(("ndpiReader -i (nDPI)" + label, "peer", n, seconds, cpu, None, rss, f"{nflows:,} flows"))
    if shutil.which("tshark"):
        seconds, cpu, rss, convs = tshark_flows(path)
        rows.append(("tshark -q -z conv,tcp -z conv,udp" + label, "peer", n, seconds, cpu, None, rss,
                     f"{convs:,} conversations"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--concurrent", type=int, default=0, help="read a capture of this many concurrent flows instead")
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--dense", action="store_true", help="also the plant's packets at 1 M/s (bench/dense_capture.py)")
    ap.add_argument("--workdir", type=Path, help="where the captures are written (default: TMPDIR/mieruka-bench)")
    ap.add_argument("--child", choices=("flows", "decoders", "live", "batches"), help=argparse.SUPPRESS)
    ap.add_argument("capture", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # one measured run of ours, as mieruka-sensor runs it: packets, flow records, pipeline CPU
        lean_process()
        cpu = time.process_time()
        result = (live(args.capture, args.child == "live") if args.child in ("live", "batches")
                  else ours(args.capture, args.child == "decoders"))
        print(*result, f"{time.process_time() - cpu:.4f}")
        return
    import compileall
    import shutil
    import tempfile

    if not Path(GNU_TIME).exists():
        sys.exit(f"{GNU_TIME} measures each process: apt-get install -y time")
    args.workdir = args.workdir or Path(tempfile.gettempdir()) / "mieruka-bench"
    # the sensor's bytecode written, as an install writes it (an editable one under PYTHONDONTWRITEBYTECODE has
    # none: every measured start would compile the ~120 modules it imports, ~0.12 s of CPU)
    compileall.compile_dir(ROOT / "sensor", quiet=1)
    from bench import dense_capture  # (these not in the measured child: 33 ms)
    from bench.concurrent_flows import write as write_concurrent
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
    dense = path.with_name(f"{path.stem}-dense{path.suffix}")
    if args.dense and not dense.exists():
        spans = dense_capture.write(path, dense)
        print(f"dense copy: {dense}, {spans['was']:,.0f} s → {spans['seconds']:.2f} s")

    compile_s = cold_compile_seconds(sample)
    warm_s, _ = timed(ours, sample)  # the ahead-of-time kernels (or numba's cache) loaded
    rows = processes(path, "", ("flows", "decoders", "live", "batches") if args.concurrent else ("flows", "decoders"))
    if args.dense:
        rows += processes(dense, ", dense", ("decoders",))
    for name, count, fn in (("dpkt loop + flow dict (in process)", None, dpkt_flows),
                            (f"Scapy PcapReader ({args.scapy_packets:,}-packet prefix, in process)", args.scapy_packets,
                             scapy_flows)):
        cpu = time.process_time()
        seconds, (n, nflows) = timed(fn, path, *([count] if count else []))
        note = f"{nflows:,} flows" + ("; rate extrapolated" if count else "")
        rows.append((name, "in process", n, seconds, time.process_time() - cpu, None, None, note))

    for tool, package in (("ndpiReader", "libndpi-bin"), ("tshark", "tshark")):
        if not shutil.which(tool):
            print(f"{tool} not installed: skipped (apt-get install -y {package})")
    print(f"numba's JIT (no ahead-of-time build), cold first call (compile, empty cache) {compile_s:.1f} s;"
          f" first call in this process {warm_s:.2f} s")
    ours_row = {row[1]: row for row in rows[:2]}
    our_rate, full_rate = (row[2] / row[3] for row in (ours_row["flows"], ours_row["decoders"]))
    full_rss = ours_row["decoders"][6]
    print(f"{'tool':52} {'packets':>10} {'seconds':>8} {'CPU s':>6} {'in-proc':>7} {'pkt/s':>11} {'pkt/s CPU':>11}"
          f" {'max RSS':>8} {'flows ×':>8} {'decode ×':>9} {'RSS ×':>6}  notes")
    for name, _, count, secs, cpu, pipeline_cpu, rss, note in rows:
        rate = count / secs
        in_process = f"{pipeline_cpu:>7.2f}" if pipeline_cpu is not None else f"{'-':>7}"
        rss_text = f"{rss:>5.0f} MB" if rss else f"{'-':>8}"
        rss_ratio = f"{full_rss / rss:>6.2f}" if rss else f"{'-':>6}"
        print(f"{name:52} {count:>10,} {secs:>8.2f} {cpu:>6.2f} {in_process} {rate:>11,.0f} {count / cpu:>11,.0f} "
              f"{rss_text} {our_rate / rate:>8.2f} {full_rate / rate:>9.2f} {rss_ratio}  {note}")
    print("seconds: wall; CPU s: the process's user + system CPU (/usr/bin/time's), in process for dpkt and Scapy;"
          " in-proc: ours, the pipeline's CPU in process (start-up excluded); pkt/s CPU: packets per CPU second;"
          " flows × / decode ×: our wall rate (decoders off / on, plant as written) over the tool's;"
          " RSS ×: our max RSS (decoders on) over the tool's")


if __name__ == "__main__":
    main()
