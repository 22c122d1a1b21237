"""The core's periodic detection: ``sensor_silent`` checks in a thread of the core process."""

from __future__ import annotations

import logging
import threading

from core.detect.engine import Detector

log = logging.getLogger(__name__)


class SilenceWatch:
    """Calls ``Detector.check_silent`` every ``every_s`` seconds until stopped."""

    def __init__(self, detector: Detector, every_s: float = 60.0):
        self.detector = detector
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="silence-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.detector.check_silent()
            except Exception:  # a failed check is retried at the next tick
                log.exception("sensor silence check failed")
