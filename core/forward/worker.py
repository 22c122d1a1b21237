"""The background worker that drains the outbox: per destination, oldest row first, stopping at the
first failure and backing off exponentially, so a receiver that was down gets everything, in
order, once it is back. Delivered rows are kept ``keep`` long for the page, then purged.

Several core processes may run a worker on one control plane: a destination is leased (one atomic
UPDATE) by one worker at a time.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import httpx
from sqlalchemy import delete, or_, select, update

from core.forward import deliver, outbox
from core.forward.models import Destination, OutboxEntry
from core.store.controlplane import ControlPlane, utcnow

log = logging.getLogger(__name__)
PURGE_EVERY = timedelta(minutes=10)


class Worker:
    def __init__(self, controlplane: ControlPlane, *, poll_s: float = 1.0, batch: int = 100,
                 backoff_s: float = 2.0, backoff_max_s: float = 300.0, lease_s: float = 120.0,
                 keep: timedelta = timedelta(days=7)):
        self.cp = controlplane
        self.poll_s, self.batch, self.lease = poll_s, batch, timedelta(seconds=lease_s)
        self.backoff_s, self.backoff_max_s, self.keep = backoff_s, backoff_max_s, keep
        self._stop = threading.Event()
        self._purged = utcnow() - PURGE_EVERY  # the first round purges
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="forward-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the worker outlives a bad moment of the database; logged, next round
                log.exception("forwarding round failed")
            self._stop.wait(self.poll_s)

    def run_once(self) -> int:
        """One round over the destinations that are due; the rows delivered."""
        now = utcnow()
        with self.cp.session() as db:
            due = db.scalars(select(Destination.id).where(
                or_(Destination.next_attempt.is_(None), Destination.next_attempt <= now))).all()
            if now - self._purged >= PURGE_EVERY:  # a write; not every round
                db.execute(delete(OutboxEntry).where(OutboxEntry.delivered_at < now - self.keep))
                self._purged = now
        return sum(self._drain(destination_id) for destination_id in due if self._claim(destination_id))

    def _claim(self, destination_id: int) -> bool:
        now = utcnow()
        with self.cp.session() as db:
            claimed = db.execute(update(Destination).where(
                Destination.id == destination_id,
                or_(Destination.lease_until.is_(None), Destination.lease_until < now),
            ).values(lease_until=now + self.lease)).rowcount
        return claimed == 1

    def _drain(self, destination_id: int) -> int:
        """Send the destination's queue, batch by batch, until it is empty or a send fails."""
        delivered, error, head = 0, None, None  # head: the row being sent
        try:
            while not self._stop.is_set():
                with self.cp.sessions() as db:
                    destination = db.get(Destination, destination_id)
                    rows = outbox.pending(db, destination_id, self.batch) if destination else []
                    db.expunge_all()
                if not rows:
                    break
                self._renew(destination_id)  # a long backlog keeps its lease, batch by batch
                head = rows[0].id
                with deliver.connect(destination) as sender:
                    for row in rows:
                        head = row.id
                        sender.send(row.alert, str(row.id))
                        self._mark(row.id)
                        delivered += 1
        except (OSError, httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("forwarding to destination %d failed: %s", destination_id, error)
        self._settle(destination_id, delivered, error, head if error else None)
        return delivered

    def _renew(self, destination_id: int) -> None:
        with self.cp.session() as db:
            db.execute(update(Destination).where(Destination.id == destination_id)
                       .values(lease_until=utcnow() + self.lease))

    def _mark(self, row_id: int) -> None:
        with self.cp.session() as db:
            db.execute(update(OutboxEntry).where(OutboxEntry.id == row_id)
                       .values(delivered_at=utcnow(), attempts=OutboxEntry.attempts + 1))

    def _settle(self, destination_id: int, delivered: int, error: str | None, failed_row: int | None) -> None:
        """Record the round's outcome and release the lease; after a failure, back off."""
        now = utcnow()
        with self.cp.session() as db:
            destination = db.get(Destination, destination_id)
            if destination is None:
                return
            destination.lease_until = None
            if delivered:
                destination.last_success = now
            if error is None:
                destination.failures, destination.next_attempt = 0, None
                return
            if failed_row is not None:
                db.execute(update(OutboxEntry).where(OutboxEntry.id == failed_row)
                           .values(attempts=OutboxEntry.attempts + 1))
            destination.failures += 1
            destination.last_failure, destination.last_error = now, error
            delay = min(self.backoff_s * 2 ** (destination.failures - 1), self.backoff_max_s)
            destination.next_attempt = now + timedelta(seconds=delay)

