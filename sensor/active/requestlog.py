"""The local log of active identification: one JSON line before each request is sent (time,
device, protocol, the request's bytes in hex with a secret masked) and one with its outcome. At
start the policy reads back when each device was last asked, so a restart does not ask again
before its time. Past ``MAX_BYTES`` the log moves to ``<name>.1`` (one old log is kept)."""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_BYTES = 8 * 1024 * 1024


class RequestLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes

    def write(self, entry: dict) -> None:
        """Append ``entry`` (OSError if it cannot be written: then nothing may be sent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.path.stat().st_size > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except FileNotFoundError:
            pass
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def last_asked(self) -> dict[tuple[str, str], float]:
        """(device, protocol) → the time of its latest request sent, in the log (and the old log);
        a dry run's entries do not count, so switching from dry run to on asks at once."""
        asked: dict[tuple[str, str], float] = {}
        for path in (self.path.with_name(self.path.name + ".1"), self.path):
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    entry = json.loads(line)
                    if entry.get("event") == "request" and not entry.get("dry_run"):
                        key = (str(entry["device"]), str(entry["protocol"]))
                        asked[key] = max(asked.get(key, 0.0), float(entry["ts"]))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line cut short by a crash
        return asked

    def entries(self) -> list[dict]:
        """Every entry of the current log, oldest first (lines that do not parse are left out)."""
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
