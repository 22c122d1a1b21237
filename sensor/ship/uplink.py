"""Upload spooled batches to the core: bearer token, idempotent batch ids, backoff with jitter.

A batch leaves the spool only when the core answers 200 (stored or duplicate). A permanent refusal
of the batch (4xx other than 401/403/408/429) sets it aside with the core's reason; a refusal of the
sensor's credentials (401/403, e.g. after its identity moved to replacement hardware) keeps every
batch queued until the sensor is activated again; anything else is retried with exponential
backoff and full jitter, oldest batch first, so a resend after a lost response is harmless: the
core deduplicates by batch id. A batch the spool evicted meanwhile is skipped. Bytes
sent and the last delivery are noted for the sensor's health report (sensor/ship/health.py).
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass, field

import httpx

from sensor.ship.health import record_upload
from sensor.ship.spool import Spool, SpooledBatch

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 429}
CREDENTIALS_REFUSED = {401, 403}
CONTENT_TYPE = "application/vnd.mieruka.batch+zstd"


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        delay = self.rng.uniform(0, min(self.cap, self.base * 2**self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class UplinkReport:
    sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    refused: int = 0  # attempts the core refused for the credentials (batches kept)
    retries: int = 0
    bytes_sent: int = 0
    last_error: str = ""


class Uplink:
    def __init__(self, core_url: str, token: str, spool: Spool, *, timeout: float = 30.0,
                 backoff: Backoff | None = None, verify: ssl.SSLContext | bool = True):
        self.url = core_url.rstrip("/") + "/api/v1/ingest"
        self.spool = spool
        self.backoff = backoff or Backoff()
        self.client = httpx.Client(
            timeout=timeout, verify=verify, headers={"Authorization": f"Bearer {token}"}
        )

    def close(self) -> None:
        self.client.close()

    def send(self, batch: SpooledBatch, body: bytes) -> tuple[str, str]:
        """POST one batch; returns (outcome, detail) with outcome 'stored', 'duplicate',
        'rejected', 'refused' or 'retry'."""
        try:
            resp = self.client.post(
                self.url, content=body,
                headers={"Content-Type": CONTENT_TYPE, "X-Batch-Id": batch.batch_id},
            )
        except httpx.HTTPError as exc:
            return "retry", f"{type(exc).__name__}: {exc}"
        outcome, detail = _outcome(resp)
        try:
            delivered = outcome in ("stored", "duplicate")
            record_upload(self.spool.dir, len(body), delivered, "" if delivered else detail)
        except OSError as exc:  # a full disk must not stop the upload that frees it
            log.warning("cannot note the upload in the health state: %s", exc)
        return outcome, detail

    def deliver(self, batch: SpooledBatch, report: UplinkReport) -> str:
        """Send one batch and settle it in the spool and ``report``; returns the outcome
        (``send``'s, or 'evicted')."""
        try:
            body = batch.read()
        except FileNotFoundError:
            return "evicted"
        outcome, detail = self.send(batch, body)
        if outcome in ("stored", "duplicate"):
            report.bytes_sent += len(body)
            self.spool.ack(batch)
            self.backoff.reset()
            report.sent += outcome == "stored"
            report.duplicates += outcome == "duplicate"
        elif outcome == "rejected":
            log.error("core rejected batch %s: %s", batch.batch_id, detail)
            try:
                self.spool.reject(batch, detail)
            except OSError as exc:  # cannot set it aside (disk full?): drop it rather than block the queue
                log.error("cannot set batch %s aside (%s); dropping it", batch.batch_id, exc)
                self.spool.count_eviction(len(body))
                self.spool.ack(batch)
            report.rejected += 1
            report.last_error = detail
        else:
            report.retries += outcome == "retry"
            report.refused += outcome == "refused"
            report.last_error = detail
        return outcome

    def drain(self, deadline: float | None = None, sleep=time.sleep,
              stop: threading.Event | None = None) -> UplinkReport:
        """Send every queued batch, retrying until the queue is empty, the deadline
        (time.monotonic() value) passes or ``stop`` is set."""
        report = UplinkReport()
        while (queued := self.spool.pending()) and not (stop and stop.is_set()):
            batch = queued[0]
            if self.deliver(batch, report) not in ("retry", "refused"):
                continue
            delay = self.backoff.next_delay()
            if deadline is not None and time.monotonic() + delay > deadline:
                log.warning("upload deadline reached with %d batches queued", len(queued))
                break
            log.warning("upload of %s failed (%s); retrying in %.1fs", batch.batch_id,
                        report.last_error, delay)
            sleep(delay)
        return report


def _outcome(resp: httpx.Response) -> tuple[str, str]:
    if resp.status_code == 200:
        try:
            status = resp.json()["status"]
        except (ValueError, KeyError, TypeError):  # e.g. an LTE carrier's captive portal
            return "retry", f"200 but not a core's answer: {resp.text[:200]!r}"
        return ("duplicate" if status == "duplicate" else "stored"), status
    detail = response_detail(resp)
    if resp.status_code in CREDENTIALS_REFUSED:
        return "refused", (f"{resp.status_code}: the core refused this sensor's credentials ({detail}); "
                           "batches stay queued until `mieruka-sensor activate` is run again")
    if 400 <= resp.status_code < 500 and resp.status_code not in RETRYABLE_STATUS:
        return "rejected", f"{resp.status_code}: {detail}"
    return "retry", f"{resp.status_code}: {detail}"


def response_detail(resp: httpx.Response) -> str:
    """The core's reason for an error answer (its JSON ``detail``), or the start of the body."""
    try:
        return str(resp.json().get("detail", resp.text))
    except ValueError:
        return resp.text[:500]
