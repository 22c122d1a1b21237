"""Live capture at rate: tcpreplay feeds a veth pair, each capture path of the sensor reads the other end.

    .venv/bin/python bench/bench_live.py [--rates 50000,100000,200000] [--seconds 5] [--pipeline]

The simulated plant capture (sensor.simulate.write_pcap, cached in --workdir as bench_flows caches
it) is replayed with ``tcpreplay --pps=N`` (Debian's tcpreplay, preloaded, looped to N × seconds
packets) into one end of a new veth pair (deleted at exit); the sensor's capture path reads the
other end in a thread of this process:

- scapy: Scapy's AF_PACKET socket, one recv per frame (sensor/capture/live.py)
- dumpcap: dumpcap's ring of 1 s pcapng files, read and deleted (sensor/capture/ring.py)
- tpacket: the kernel's TPACKET_V3 mmap ring walked by numba (sensor/capture/tpacket.py)

Per path and rate: packets tcpreplay sent and its achieved rate (its own counts), packets the
sensor counted, kernel drops (from the path's own PACKET_STATISTICS counter), packets/s (counted /
tcpreplay's send time), how long the reader was still busy after the stop (``behind``: a backlog it
had buffered, such as dumpcap's files) and CPU% of the capture over the whole run (the reading
thread, plus dumpcap's process for dumpcap; 100 % = one core). Without --pipeline the chunks are
only counted (can the path keep up?); with it they go through the sensor's pipeline with every
decoder on, as `mieruka-sensor run` does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import veth  # noqa: E402
from sensor.capture.live import LiveCapture  # noqa: E402
from sensor.capture.ring import DumpcapRing  # noqa: E402
from sensor.capture.tpacket import PacketRing  # noqa: E402
from sensor.meter.pipeline import Stats, iter_intervals  # noqa: E402
from sensor.simulate import write_pcap  # noqa: E402

PATHS = ("scapy", "dumpcap", "tpacket")
SENT = re.compile(r"Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds")
SETTLE = 1.0  # seconds after tcpreplay ends for the last frames to be read


def open_path(name: str, interface: str, workdir: Path, buffer_mb: int):
    if name == "scapy":
        return LiveCapture(interface, "", buffer_mb)
    if name == "dumpcap":
        return DumpcapRing(interface, "", workdir / "ring", seconds=1, files=60, buffer_mb=buffer_mb)
    return PacketRing(interface, "", buffer_mb)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Reader(threading.Thread):
    """Reads a capture path until ``stop``: counts frames (and drops), optionally through the pipeline."""

    def __init__(self, capture, pipeline: bool):
        super().__init__(daemon=True)
        self.capture, self.pipeline = capture, pipeline
        self.stop = threading.Event()
        self.frames = self.drops = 0
        self.cpu = 0.0

    def _counted(self):
        for frames in self.capture.chunks(self.stop):
            self.frames += len(frames) + frames.errors
            self.drops += frames.kernel_drops
            yield frames

    def run(self) -> None:
        start = time.thread_time()
        if self.pipeline:
            for _ in iter_intervals([self._counted()], 1.0, stats=Stats()):
                pass
        else:
            for _ in self._counted():
                pass
        self.cpu = time.thread_time() - start


def measure(name: str, pcap: Path, send: str, capture: str, rate: int, args: argparse.Namespace,
            workdir: Path) -> dict:
    seconds, pipeline = args.seconds, args.pipeline
    cap = open_path(name, capture, workdir, args.buffer_mb)
    reader = Reader(cap, pipeline)
    try:
        reader.start()
        dumpcap = getattr(cap, "proc", None)
        cmd = ["tcpreplay", "-q", "-K", "-i", send, f"--pps={rate}", f"--pps-multi={max(1, rate // 10000)}",
               "--loop=0", f"--limit={int(rate * seconds)}", str(pcap)]
        started = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        sent_at = time.monotonic()
        time.sleep(SETTLE)
        helper_cpu = process_cpu(dumpcap.pid) if dumpcap else 0.0
        reader.stop.set()
        reader.join()
        wall = time.monotonic() - started
        behind = max(0.0, time.monotonic() - sent_at - SETTLE)
    finally:
        reader.stop.set()
        cap.close()
    sent, send_s = SENT.search(out).groups()
    return {"path": name, "rate": rate, "sent": int(sent), "sent_pps": int(sent) / float(send_s),
            "counted": reader.frames, "drops": reader.drops,
            "pps": reader.frames / float(send_s), "behind": behind, "cpu": 100 * (reader.cpu + helper_cpu) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="50000,100000,200000", help="offered packets/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds of traffic per rate")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"capture paths, of {', '.join(PATHS)}")
    ap.add_argument("--pipeline", action="store_true", help="run the sensor's pipeline (every decoder) on the chunks")
    ap.add_argument("--buffer-mb", type=int, default=64, help="kernel buffer of each path (capture_buffer_mb)")
    ap.add_argument("--packets", type=int, default=100_000, help="packets in the replayed plant capture")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mieruka-bench")
    args = ap.parse_args()
    try:
        rates = [int(r) for r in args.rates.split(",")]
    except ValueError:
        ap.error(f"--rates: not a list of integers: {args.rates!r}")
    paths = args.paths.split(",")
    if bad := [p for p in paths if p not in PATHS]:
        ap.error(f"--paths: unknown capture path {bad[0]!r}")
    if why := veth.available():
        sys.exit(f"bench_live: {why}")
    if not shutil.which("tcpreplay"):
        sys.exit("bench_live: tcpreplay is not installed (apt-get install -y tcpreplay)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    pcap = args.workdir / f"plant-{args.packets}.pcap"
    if not pcap.exists():
        write_pcap(pcap, packets=args.packets, seed=1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the veth pair is deleted
    load = os.getloadavg()
    what = "pipeline with every decoder" if args.pipeline else "capture only (chunks counted)"
    print(f"replaying {pcap.name} for {args.seconds:g} s per rate; {what}; kernel buffer {args.buffer_mb} MiB; "
          f"cpu: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'path':<8} {'offered':>8} {'sent':>10} {'sent/s':>8} {'counted':>10} {'drops':>10} {'lost %':>7} {'pkt/s':>9} {'behind s':>8} {'CPU %':>6}")
    with veth.pair("bl") as (send, capture), tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for name in paths:
            for rate in rates:
                r = measure(name, pcap, send, capture, rate, args, Path(tmp))
                lost = 100 * (r["sent"] - r["counted"]) / r["sent"]
                print(f"{name:<8} {rate:>8,} {r['sent']:>10,} {r['sent_pps']:>8,.0f} {r['counted']:>10,} {r['drops']:>10,} {lost:>7.1f} "
                      f"{r['pps']:>9,.0f} {r['behind']:>8.1f} {r['cpu']:>6.0f}", flush=True)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
