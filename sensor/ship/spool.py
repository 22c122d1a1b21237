"""Crash-safe on-disk queue of encoded batches (store-and-forward).

Each batch is one file named ``<sequence>-<batch_id>.mrkb``, written to a temporary name, fsynced and
renamed into place, so a crash leaves either the whole batch or nothing, and a failed write (disk full)
leaves nothing and is counted. The queue is bounded by total size; when full, the oldest batches are
evicted and counted in ``state.json`` (never silently). A batch the core refused for good is set aside
in ``rejected/`` with the core's reason, out of the queue. One thread may put while another sends and acks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".mrkb"
STATE = "state.json"
REJECTED, REASON = "rejected", ".reason.txt"  # batches the core refused for good, each with its reason


@dataclass(frozen=True)
class SpooledBatch:
    path: Path
    sequence: int
    batch_id: str

    def read(self) -> bytes:
        return self.path.read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: after a crash it holds either the old or the new bytes."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _size(path: Path) -> int:
    """The file's size; 0 once it is gone (acknowledged by the uploader meanwhile)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Spool:
    def __init__(self, directory: Path, max_bytes: int = 2 * 1024**3):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        for stale in self.dir.glob(".*.tmp"):  # a crash mid-write leaves only these
            stale.unlink()
        self.state = {"write_failures": 0} | self._load_state()

    def _load_state(self) -> dict:
        try:
            return json.loads((self.dir / STATE).read_text())
        except (FileNotFoundError, ValueError):
            return {"next_sequence": self._max_sequence() + 1, "evicted": 0, "evicted_bytes": 0}

    def _save_state(self) -> None:
        write_atomic(self.dir / STATE, json.dumps(self.state).encode())

    def _max_sequence(self) -> int:
        return max((b.sequence for b in self.pending()), default=0)

    def put(self, batch_id: str, data: bytes) -> SpooledBatch:
        """Persist one encoded batch; evict the oldest if the spool would exceed its bound."""
        seq = max(self.state["next_sequence"], self._max_sequence() + 1)
        self.state["next_sequence"] = seq + 1
        self._evict_for(len(data))
        path = self.dir / f"{seq:012d}-{batch_id}{SUFFIX}"
        try:
            write_atomic(path, data)
        except OSError:
            self.state["write_failures"] += 1  # saved with the next batch that fits
            raise
        try:
            self._save_state()
        except OSError:
            pass  # the batch is stored; the counters are saved with the next one
        return SpooledBatch(path, seq, batch_id)

    def _evict_for(self, incoming: int) -> None:
        queued = self.pending()
        total = sum(_size(b.path) for b in queued)
        while queued and total + incoming > self.max_bytes:
            oldest = queued.pop(0)
            size = _size(oldest.path)
            oldest.path.unlink(missing_ok=True)
            total -= size
            self.count_eviction(size)

    def count_eviction(self, size: int) -> None:
        """A batch of ``size`` bytes lost for want of space (the spool's bound, or a full disk)."""
        self.state["evicted"] += 1
        self.state["evicted_bytes"] += size

    def pending(self) -> list[SpooledBatch]:
        """Queued batches, oldest first."""
        out = []
        for path in self.dir.glob(f"*{SUFFIX}"):
            seq, _, batch_id = path.stem.partition("-")
            if seq.isdigit() and batch_id:
                out.append(SpooledBatch(path, int(seq), batch_id))
        return sorted(out, key=lambda b: b.sequence)

    def ack(self, batch: SpooledBatch) -> None:
        """The core has the batch: drop it from the queue."""
        batch.path.unlink(missing_ok=True)
        _fsync_dir(self.dir)

    def reject(self, batch: SpooledBatch, reason: str) -> None:
        """The core refused the batch for good: keep it aside with the reason, out of the queue."""
        rejected = self.dir / REJECTED
        rejected.mkdir(exist_ok=True)
        write_atomic(rejected / f"{batch.path.stem}{REASON}", reason.encode())
        os.replace(batch.path, rejected / batch.path.name)

    def set_aside(self) -> tuple[int, str]:
        """How many batches the core refused for good, and its reason for the newest of them."""
        reasons = sorted((self.dir / REJECTED).glob(f"*{REASON}"))  # named by sequence: oldest first
        last = ""
        if reasons:
            try:
                last = reasons[-1].read_text(errors="replace")
            except FileNotFoundError:  # removed by hand meanwhile
                pass
        return len(reasons), last

    def stats(self) -> dict:
        queued = self.pending()
        rejected, last_rejection = self.set_aside()
        return {
            "depth": len(queued),
            "bytes": sum(_size(b.path) for b in queued),
            "oldest_mtime": _mtime(queued),
            "evicted": self.state["evicted"],
            "evicted_bytes": self.state["evicted_bytes"],
            "write_failures": self.state["write_failures"],
            "rejected": rejected,
            "last_rejection": last_rejection,
        }


def _mtime(queued: list[SpooledBatch]) -> float | None:
    """When the oldest batch still queued was written."""
    for batch in queued:
        try:
            return batch.path.stat().st_mtime
        except FileNotFoundError:
            continue
    return None
