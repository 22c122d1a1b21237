"""A budget of bytes shared by threads: what uploads waiting for their group may hold in memory.

``held(size)`` waits while the others hold so much that ``size`` more would pass the limit; a size
larger than the whole budget goes in once nothing else is held, so no upload waits for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._waiting = 0  # threads waiting for room
        self._cond = threading.Condition()

    @contextmanager
    def held(self, size: int) -> Iterator[None]:
        with self._cond:
            while self._held and self._held + size > self.limit:
                self._waiting += 1
                try:
                    self._cond.wait()
                finally:
                    self._waiting -= 1
            self._held += size
        try:
            yield
        finally:
            with self._cond:
                self._held -= size
                self._cond.notify_all()

    @property
    def blocked(self) -> bool:
        """Whether a thread waits for room (what holds the budget must be let go first)."""
        with self._cond:
            return self._waiting > 0

    @property
    def in_use(self) -> int:
        with self._cond:
            return self._held
