"""Group commit: many callers' items stored by one call, each caller answered once its item is stored.

A caller submits its item and waits. When no store call is running, the first waiting caller becomes
the leader: it takes every waiting item (up to ``max_size``) and stores them in one ``store`` call while
later arrivals queue for the next group. Each caller is woken once, when its item is stored or when it
is to lead (with hundreds waiting, waking them all at the end of every group kept the event loop from
the GIL for seconds). Groups grow with the load on their own: an idle core stores
each item at once, a busy one stores what arrived during the previous store call. When the previous
group held more than one item and ended less than ``quiet`` seconds ago (the store is busy), the leader
first waits for more while they keep coming — until none came for ``quiet`` seconds, ``linger`` seconds
passed, ``max_size`` is reached or ``more_can_come`` says no more can queue (the callers hold something
the queued items must give back first) —
since what a group costs is mostly per store call, not per item: callers that were answered by the
previous group and send again join this one instead of waiting for the next. If a group fails,
each of its items is stored again on its own, so one bad item fails alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "item", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None
        self.wake = threading.Event()  # set once: its group is stored, or it is to lead the next


class GroupCommit(Generic[T]):
    def __init__(self, store: Callable[[list[T]], None], size: Callable[[T], int], max_size: int,
                 linger: float = 0.0, quiet: float = 0.0, more_can_come: Callable[[], bool] = lambda: True):
        self._store = store
        self._size = size
        self._max_size = max_size
        self._linger, self._quiet = linger, quiet
        self._more_can_come = more_can_come
        self._queue: deque[_Slot[T]] = deque()
        self._queued = 0  # the size of the items in the queue
        self._busy = False
        self._shared_until = 0.0  # (monotonic) a group of several ended less than ``quiet`` before this
        self._lock = threading.Condition()  # notified at each arrival, for a leader that lingers

    def submit(self, item: T) -> None:
        """Store ``item`` with whatever else is waiting; returns once it is stored, or raises its error."""
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            self._queued += self._size(item)
            leading, self._busy = not self._busy, True
            self._lock.notify()
        if not leading:
            slot.wake.wait()
        if not slot.done:  # it leads: its item is the first waiting, so the first of the group
            with self._lock:
                if time.monotonic() < self._shared_until:
                    self._gather()
                group = self._take()
            try:
                self._run(group)
            finally:
                with self._lock:
                    self._shared_until = time.monotonic() + self._quiet if len(group) > 1 else 0.0
                    for stored in group:
                        stored.wake.set()
                    if self._queue:
                        self._queue[0].wake.set()  # it leads the next group
                    else:
                        self._busy = False
        if slot.error is not None:
            raise slot.error

    def _gather(self) -> None:
        """Wait (the lock held, given up while waiting) while items keep coming: until none came for
        ``quiet`` seconds, ``linger`` seconds passed, the queue holds ``max_size`` or no more can come."""
        deadline = time.monotonic() + self._linger
        while self._queued < self._max_size and self._more_can_come():
            left = deadline - time.monotonic()
            if left <= 0 or not self._lock.wait(min(self._quiet, left)):
                return

    def _take(self) -> list[_Slot[T]]:
        group = [self._queue.popleft()]
        total = self._size(group[0].item)
        while self._queue and total + self._size(self._queue[0].item) <= self._max_size:
            total += self._size(self._queue[0].item)
            group.append(self._queue.popleft())
        self._queued -= total
        return group

    def _run(self, group: list[_Slot[T]]) -> None:
        try:
            try:
                self._store([s.item for s in group])
            except Exception as error:
                if len(group) == 1:
                    group[0].error = error
                    return
                log.warning("a group of %d failed (%s); storing each on its own", len(group), error)
                for slot in group:
                    try:
                        self._store([slot.item])
                    except Exception as own:
                        slot.error = own
        except BaseException as error:  # the leader is interrupted: nobody in its group was stored
            for slot in group:
                slot.error = slot.error or error
            raise
        finally:
            for slot in group:
                slot.done = True
