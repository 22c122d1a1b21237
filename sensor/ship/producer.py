"""Batches from the pipeline → the spool, in economy mode near the data budget, held in memory
while the spool's disk refuses them (full), so a full disk loses nothing and corrupts nothing.

Each batch is encoded once and queued in memory, oldest first; whatever the spool does not take now
(``OSError``: the spool counts the failure, leaves no partial file) is offered again on the next
batch and whenever the uploader has freed space (``retry``). Past ``MAX_BACKLOG`` bytes the oldest
is dropped and counted as an eviction, as the spool itself does at its bound.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from sensor import wire
from sensor.ship import budget, health
from sensor.ship.spool import Spool

log = logging.getLogger(__name__)

MAX_BACKLOG = 64 * 1024 * 1024  # 64 MiB


class Producer:
    def __init__(self, spool: Spool, budget_bytes: int, economy_interval: float, sensor: str = ""):
        self.spool = spool
        self.budget_bytes = budget_bytes
        self.summary = budget.FlowSummary(economy_interval, sensor)
        self.backlog: deque[tuple[str, bytes]] = deque()
        self.lock = threading.Lock()  # put (capture thread) and retry (uploader thread)
        self.refused = False  # the spool refused the last write

    def put(self, batch: wire.Batch, unknown_link_types: Mapping[int, int] | None = None) -> None:
        """Spool one interval's batch (and, around economy mode, a flow summary); note its counters
        and the frames of unknown link types so far for the health report. The batch's tables are
        let go as it is encoded (``wire.encode``'s ``consume``): read them before."""
        try:
            health.record_batch(self.spool.dir, batch, unknown_link_types)
        except OSError:
            pass  # a full disk: the status shows the previous interval's figures meanwhile
        if budget.mode(health.bytes_this_month(self.spool.dir), self.budget_bytes) == "economy":
            self._queue(self.summary.add(batch))
            batch = replace(batch, tables=batch.tables | {"flows": wire.empty_table("flows")})
        else:
            self._queue(self.summary.take())  # back to full mode: the summary so far goes now
        self._queue(batch)
        self.retry()

    def put_extra(self, batch: wire.Batch) -> None:
        """Spool a batch that is no capture interval (active identification's answers): no capture
        figures for the health report, no economy summary (its tables let go as ``put``'s)."""
        self._queue(batch)
        self.retry()

    def finish(self) -> None:
        """The capture ended: spool the flow summary being gathered."""
        self._queue(self.summary.take())
        self.retry()

    def _queue(self, batch: wire.Batch | None) -> None:
        if batch is None:
            return
        with self.lock:
            self.backlog.append((batch.batch_id, wire.encode(batch, consume=True)))  # only the frame is kept
            while sum(len(data) for _, data in self.backlog) > MAX_BACKLOG:
                batch_id, data = self.backlog.popleft()
                log.error("dropping batch %s: the spool disk has refused batches for too long", batch_id)
                self.spool.count_eviction(len(data))

    def retry(self) -> None:
        """Offer the queued batches to the spool, oldest first, until it refuses one."""
        with self.lock:
            while self.backlog:
                batch_id, data = self.backlog[0]
                try:
                    self.spool.put(batch_id, data)
                except OSError as exc:
                    if not self.refused:
                        log.error("cannot write to the spool (%s): holding %d batches in memory",
                                  exc.strerror, len(self.backlog))
                    self.refused = True
                    return
                self.backlog.popleft()
                if self.refused:
                    log.info("the spool takes batches again")
                    self.refused = False
