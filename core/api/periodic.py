"""The core process's periodic jobs, each in a thread: ``sensor_silent`` checks every minute and
the deletion of tenants whose contracts ended (every hour)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``job`` every ``every_s`` seconds until stopped; a failure is logged and retried at the
    next tick."""

    def __init__(self, name: str, job: Callable[[], object], every_s: float):
        self.name = name
        self.job = job
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.job()
            except Exception:
                log.exception("periodic job %s failed", self.name)
