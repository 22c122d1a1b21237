"""High-rate capture: dumpcap writes a ring of rotating pcapng files, read in order and deleted.

dumpcap captures from the kernel's memory-mapped ring (TPACKET_V3), far faster than a Python
socket loop, and starts a new file every ``seconds`` (``-b duration``), keeping at most ``files``
(``-b files``). A file is read only once dumpcap has moved on to the next one, then deleted.
After each file comes a chunk without frames carrying the kernel's drops since the last one (read
from dumpcap's own socket, see ``kdrops``) and the clock: the start of the file being written,
before which every packet is in a file already read. Files an earlier run left are read first.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from sensor.capture import kdrops
from sensor.capture.mirror import CaptureUnavailable
from sensor.capture.pcapfile import CaptureError, Frames, iter_frames

log = logging.getLogger(__name__)

# dumpcap names ring files <prefix>_<number>_<local start time>.pcapng; our prefix holds the run
NAME = re.compile(r"ring-(\d+)_(\d+)_(\d{14})\.pcapng")
FINAL_STATS = re.compile(r"Packets received/dropped on interface .*: \d+/(\d+)")
POLL = 0.2  # seconds between looks for a finished file


class RingFile:
    def __init__(self, path: Path, match: re.Match):
        self.path = path
        self.run, self.number = int(match[1]), int(match[2])
        self.started = int(time.mktime(time.strptime(match[3], "%Y%m%d%H%M%S"))) * 1_000_000  # µs

    @property
    def order(self) -> tuple[int, int]:
        return self.run, self.number


class DumpcapRing:
    def __init__(self, interface: str, bpf_filter: str, directory: Path, seconds: int = 10,
                 files: int = 60, buffer_mb: int = 64):
        exe = shutil.which("dumpcap")
        if exe is None:
            raise CaptureUnavailable("dumpcap is not installed",
                                     "apt-get install tshark (it brings dumpcap), or set capture = \"scapy\"")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run = time.time_ns()  # this run's files sort after any an earlier run left
        cmd = [exe, "-i", interface, "-q", "-B", str(buffer_mb), "-b", f"duration:{seconds}",
               "-b", f"files:{files}", "-w", str(self.dir / f"ring-{self.run}.pcapng")]
        self.proc = subprocess.Popen(cmd + (["-f", bpf_filter] if bpf_filter else []),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.stderr: deque[str] = deque(maxlen=50)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.sock = None  # dumpcap's packet socket, borrowed for its drop counters
        self.last: RingFile | None = None
        while not any(f.run == self.run for f in self._files()):  # its first file: it is capturing
            if self.proc.poll() is not None:
                raise self._died()
            time.sleep(POLL / 4)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.strip())

    def _died(self) -> CaptureUnavailable:
        self.reader.join(timeout=5)  # dumpcap's last words
        said = [line for line in self.stderr if line.startswith("dumpcap:")] or list(self.stderr) or ["no message"]
        return CaptureUnavailable(f"dumpcap stopped (exit code {self.proc.returncode}): {said[-1]}",
                                  "check the interface and bpf_filter in the sensor config")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.sock.close()

    def _files(self) -> list[RingFile]:
        found = ((p, NAME.fullmatch(p.name)) for p in self.dir.iterdir())
        return sorted((RingFile(p, m) for p, m in found if m), key=lambda f: f.order)

    def _drops(self) -> int:
        if self.sock is None:
            self.sock = kdrops.borrow_packet_socket(self.proc.pid)
        return kdrops.read_drops(self.sock) if self.sock else 0

    def _stop(self) -> int:
        """Stop dumpcap; the drops since our last reading (its own final count included)."""
        drops = self._drops()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.sock:  # our copy would keep the socket (and its drop count) alive
            self.sock.close()
            self.sock = None
        self.reader.join(timeout=5)  # dumpcap's last words: its final statistics
        final = [int(m[1]) for line in self.stderr if (m := FINAL_STATS.search(line))]
        return drops + sum(final)

    def chunks(self, stop: threading.Event) -> Iterator[Frames]:
        """Frames of finished files, in order, until ``stop`` is set (then dumpcap is stopped and
        every file read); CaptureUnavailable if dumpcap stops by itself."""
        while True:
            running = self.proc.poll() is None
            if stop.is_set() and running:
                yield Frames.empty(kernel_drops=self._stop())
                running = False
            files = self._files()
            mine = [f for f in files if f.run == self.run]
            ready = files if not running else [f for f in files if not mine or f is not mine[-1]]
            for i, ring_file in enumerate(ready):
                yield from self._read(ring_file)
                later = files[i + 1] if i + 1 < len(files) else None
                clock = later.started if later and later.run == self.run else None
                yield Frames.empty(kernel_drops=self._drops() if running else 0, clock=clock)
            if not running and not ready:
                if not stop.is_set():
                    raise self._died()
                return
            if not ready:
                stop.wait(POLL)

    def _read(self, ring_file: RingFile) -> Iterator[Frames]:
        last, self.last = self.last, ring_file
        if last and last.run == ring_file.run and ring_file.number != last.number + 1:
            log.error("dumpcap deleted ring files %d to %d before they were read: their packets are lost "
                      "(raise ring_files, or capture less with bpf_filter)", last.number + 1, ring_file.number - 1)
        try:
            yield from iter_frames(ring_file.path)
        except CaptureError as exc:  # e.g. a file cut short by a crash before its header was written
            log.warning("skipping %s", exc)
        except FileNotFoundError:  # dumpcap deleted it (ring full) as we came to it
            log.error("dumpcap deleted %s before it was read: its packets are lost", ring_file.path.name)
        ring_file.path.unlink(missing_ok=True)
