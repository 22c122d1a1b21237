"""`mieruka-sensor run`, the service: capture → pipeline → spool in this thread, with an uploader
draining the spool and a heartbeat reporting health to the core beside it.

``stop`` (set on SIGTERM or SIGINT) ends the capture; the interval being captured is flushed to the
spool as a batch like any other, the uplink gets ``GRACE`` seconds to send what is queued (the rest
waits in the spool for the next start), and a last health report goes out.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path

from sensor.active.policy import Identifier
from sensor.meter import pipeline
from sensor.ship import health
from sensor.site.source import open_capture
from sensor.site.config import MIB, SensorConfig
from sensor.ship.coreapi import CoreClient, CoreError
from sensor.meter.observe import Observer
from sensor.ship.producer import Producer
from sensor.ship.spool import Spool
from sensor.ship.uplink import Backoff, Uplink

log = logging.getLogger(__name__)

GRACE = 10.0  # seconds to send the last batches at shutdown
IDLE = 2.0  # seconds the uploader waits for news when the spool is empty (and retries a full disk)


def run(cfg: SensorConfig, stop: threading.Event) -> None:
    """Capture and upload until ``stop`` is set. Raises Problem if the capture cannot start or dies."""
    spool = Spool(Path(cfg.spool), cfg.spool_max_mb * MIB)
    capture = open_capture(cfg)
    producer = Producer(spool, cfg.monthly_budget_mb * MIB, cfg.economy_interval_s, cfg.serial)
    uplink = Uplink(cfg.core_url, cfg.token, spool, timeout=cfg.upload_timeout_s,
                    backoff=Backoff(cap=cfg.retry_max_s), verify=cfg.verify)
    core = CoreClient(cfg.core_url, cfg.token, cfg.verify, timeout=cfg.upload_timeout_s)
    wake = threading.Event()
    report = functools.partial(_report_health, core, spool, cfg.monthly_budget_mb * MIB)
    helpers = [threading.Thread(target=_upload, args=(uplink, producer, stop, wake), name="uploader"),
               threading.Thread(target=_heartbeat, args=(report, cfg.heartbeat_s, stop), name="heartbeat")]
    active = None
    if cfg.active.mode != "off":  # optional active identification of the devices seen (sensor/active)
        active = Identifier(cfg.active, cfg.serial, emit=producer.put_extra)
        helpers.append(threading.Thread(target=active.run, args=(stop,), name="active-id"))
        log.warning("active identification %s: %s to devices seen in %s", cfg.active.mode,
                    ", ".join(cfg.active.protocols), ", ".join(cfg.active.networks))
    for thread in helpers:
        thread.start()
    log.info("capturing on %s (%s), batches every %g s to %s", cfg.interface, cfg.capture, cfg.interval_s,
             cfg.core_url)
    stats = pipeline.Stats()
    try:
        for batch in pipeline.iter_batches([capture.chunks(stop)], cfg.interval_s, sensor=cfg.serial,
                                           observer=Observer(), stats=stats, max_flows=cfg.max_flows):
            if active is not None:
                active.learn(batch)
            producer.put(batch, stats.link_types)  # (lets the batch's tables go as it encodes them)
            batch = None  # spooled: not held while the next interval is built
            wake.set()
        producer.finish()
        if not stop.is_set():
            log.info("the capture ended; uploading until stopped")
            stop.wait()
    finally:
        stop.set()
        wake.set()
        capture.close()
        for thread in helpers:
            thread.join()
        producer.finish()  # (again, if the capture failed: the flow summary so far)
        left = uplink.drain(deadline=time.monotonic() + GRACE)
        log.info("stopped: %d batches sent at shutdown, %d left in the spool", left.sent, len(spool.pending()))
        log.info("frames read %d: %d decoded, %d parse errors%s", stats.read, stats.decoded,
                 sum(stats.errors.values()), f" ({stats.summary()})" if stats.errors else "")
        report()
        uplink.close()
        core.close()


def _upload(uplink: Uplink, producer: Producer, stop: threading.Event, wake: threading.Event) -> None:
    while not stop.is_set():
        wake.clear()
        producer.retry()  # space the last acks freed may take batches a full disk refused
        uplink.drain(sleep=stop.wait, stop=stop)
        wake.wait(IDLE)


def _heartbeat(report, period: float, stop: threading.Event) -> None:
    while True:
        report()
        if stop.wait(period):
            return


def _report_health(core: CoreClient, spool: Spool, budget_bytes: int) -> None:
    try:
        core.health(health.snapshot(spool, budget_bytes))
    except CoreError as exc:
        log.warning("health report not delivered: %s", exc)
