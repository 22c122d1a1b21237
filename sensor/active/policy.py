"""What active identification may send, to whom and when, and the loop that sends it.

A target (a device seen serving a protocol, ``targets.Seen``) is asked only when all hold: the
mode is not off, its protocol is switched on, its address is inside the site's networks and not
excluded (``ActiveSettings.may_ask``), its traffic has not told its model and firmware already, it
was not asked about that protocol within
``interval_hours`` (the request log remembers across restarts), and the global pace of
``max_rate`` requests per second allows it. Every request is written to the local log before it
is sent (none is sent if the log cannot be written); in dry-run mode only the log is written.
Each exchange becomes an event (protocol ``active``) and its answer's facts observations with
source ``active``, handed on as a batch of their own (``emit``) like the capture's batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sensor import wire
from sensor.active import bacnet, enip, exchange, modbus, s7comm, snmp
from sensor.active.requestlog import RequestLog
from sensor.active.settings import ActiveSettings
from sensor.active.targets import Seen, Target
from sensor.decode.spec import Event
from sensor.meter.rows import Facts, event_row

log = logging.getLogger(__name__)

PROBES: dict[str, exchange.Probe] = {p.name: p for p in (enip.PROBE, s7comm.PROBE, modbus.PROBE, bacnet.PROBE,
                                                          snmp.PROBE)}
SOURCE = "active"  # the observations' source and the events' protocol
POLL_S = 60.0  # how often the loop looks for devices due (and as soon as a batch shows news)
WAKE_S = 0.5  # how soon the loop notices a stop or a batch learnt
ROUND_S = 60.0  # a round hands on what it learnt after this long; the next one goes on at once


class Identifier:
    def __init__(self, settings: ActiveSettings, sensor: str = "",
                 emit: Callable[[wire.Batch], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.sensor = sensor
        self.emit = emit
        self.clock = clock
        self.seen = Seen()
        self.log = RequestLog(Path(settings.log))
        self.asked = self.log.last_asked()
        self.counts: Counter[str] = Counter()  # outcomes: identified, answered, timeout, refused, malformed …
        self._next = 0.0  # monotonic time the next request may go
        self._news = threading.Event()  # a batch was learnt since the last round
        self._cut = False  # the last round ended on its time budget with devices still due

    def learn(self, batch: wire.Batch) -> None:
        self.seen.learn(batch)
        self._news.set()

    def decision(self, target: Target, now: float) -> str:
        """"due", or why ``target`` is not asked now."""
        s = self.settings
        if s.mode == "off":
            return "active identification is off"
        if target.protocol not in s.protocols or target.protocol not in PROBES:
            return f"{target.protocol} is not switched on"
        if not s.may_ask(target.ip):
            return "outside the site's networks, excluded, or not one device"
        if target.identified:
            return "its traffic already told its model and firmware"
        last = self.asked.get(target.key)
        if last is not None and now - last < s.interval_hours * 3600:
            return f"asked at {_iso(last)}, again after {s.interval_hours:g} h"
        return "due"

    def plan(self, now: float | None = None) -> list[tuple[Target, str, list[exchange.Message]]]:
        """Every target seen, what would be sent to it and whether it is due now."""
        now = self.clock() if now is None else now
        return [(t, self.decision(t, now), PROBES[t.protocol].messages(t, self.settings) if t.protocol in PROBES else [])
                for t in self.seen.targets()]

    def round(self, stop: threading.Event | None = None, budget: float = ROUND_S) -> wire.Batch | None:
        """Ask the devices that are due, at the allowed pace, for ``budget`` seconds (one device at
        least); the batch of what they answered. Devices still due wait for the next round."""
        events: list[dict] = []
        facts = Facts()
        started = self.clock()
        until, asked = time.monotonic() + budget, False
        self._cut = False
        for target in self.seen.targets():
            if stop is not None and stop.is_set():
                break
            if self.decision(target, self.clock()) != "due":
                continue
            if asked and time.monotonic() > until:
                self._cut = True
                break
            asked = True
            if not self._pace(stop):
                break
            try:
                row = self._ask(target, facts)
            except Exception:  # noqa: BLE001 - one device's failure costs only its request
                self.counts["failed"] += 1
                log.exception("active identification of %s (%s) failed", target.ip, target.protocol)
                continue
            if row is not None:
                events.append(row)
        observations = facts.flush()
        if not events:
            return None
        end = max(self.clock(), started)
        tables = {"flows": wire.empty_table("flows"), "events": wire.table_from_rows("events", events),
                  "observations": wire.table_from_rows("observations", observations)}
        return wire.Batch(_utc(started), _utc(end), tables, dict.fromkeys(wire.COUNTERS, 0), sensor=self.sensor)

    def run(self, stop: threading.Event, poll: float = POLL_S) -> None:
        """Rounds until ``stop``; a failure costs its round, never the sensor."""
        while not stop.is_set():
            self._news.clear()
            try:
                batch = self.round(stop)
                if batch is not None and self.emit is not None:
                    self.emit(batch)
            except Exception:  # noqa: BLE001 - the capture goes on whatever happens here
                self.counts["failed"] += 1
                log.exception("active identification: the round failed")
            deadline = time.monotonic() + poll
            while not (self._cut or stop.wait(WAKE_S) or self._news.is_set()) and time.monotonic() < deadline:
                pass

    # -- one target ---------------------------------------------------------------------------

    def _pace(self, stop: threading.Event | None) -> bool:
        wait = self._next - time.monotonic()
        if wait > 0 and (stop.wait(wait) if stop is not None else time.sleep(wait)):
            return False
        self._next = max(time.monotonic(), self._next) + 1 / self.settings.max_rate
        return True

    def _ask(self, target: Target, facts: Facts) -> dict | None:
        probe = PROBES[target.protocol]
        messages = probe.messages(target, self.settings)
        ts = self.clock()
        dry = self.settings.mode == "dry-run"
        entry = {"ts": ts, "time": _iso(ts), "event": "request", "device": target.ip, "protocol": target.protocol,
                 "transport": target.transport, "port": target.port, "dry_run": dry,
                 "request": [{"hex": m.logged_hex(), "meaning": m.meaning} for m in messages]}
        try:
            self.log.write(entry)
        except OSError as exc:
            self.counts["unlogged"] += 1
            log.error("active identification: cannot write %s (%s); nothing is sent", self.log.path, exc.strerror)
            return None
        self.asked[target.key] = ts
        if dry:
            self.counts["dry_run"] += 1
            log.info("active identification (dry run): would send %s to %s:%d", probe.action, target.ip, target.port)
            return None
        if self.settings.mode != "on" or not self.settings.may_ask(target.ip):  # (decided above; checked again)
            return None
        outcome = exchange.run(target.protocol, target.transport, target.ip, target.port, messages,
                               self.settings.timeout_s)
        self.counts[outcome.status] += 1
        done = self.clock()
        found = [{"attribute": f.attribute, "value": f.value} for f in outcome.facts]
        try:
            self.log.write({"ts": done, "time": _iso(done), "event": "result", "device": target.ip,
                            "protocol": target.protocol, "status": outcome.status, "detail": outcome.detail,
                            "facts": found})
        except OSError:
            self.counts["unlogged"] += 1
        for fact in outcome.facts:
            facts.add(done, "", target.ip, fact.attribute, fact.value, SOURCE, fact.confidence)
        attrs = {"protocol": target.protocol, "transport": target.transport, "messages": len(messages),
                 "request": " ".join(m.logged_hex() for m in messages), "facts": len(found),
                 "detail": outcome.detail}
        event = Event(probe.action, outcome.status, attrs, protocol=SOURCE, ts=ts)
        return event_row(event, "", outcome.local, target.ip, target.port, SOURCE)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _iso(ts: float) -> str:
    return _utc(ts).isoformat(timespec="seconds")
