"""Detection at ingest: one stored batch in, alerts out, against the baseline (never history).

Per batch, in this order:

1. Learning: the tenant's period (``learning_hours``, default 168) runs from the sensor's first
   data time in the tenant's current learning epoch (``mieruka tenants relearn`` starts a new one).
   A batch that starts inside it adds what it shows to the baseline and raises nothing but
   indicator matches (a listed indicator is never normal).
2. After it: unknown devices, links and OT functions, changed device attributes, the stateless
   rules (``core.detect.registry``) and indicator matches become findings.
3. Findings fold into alerts: one open alert (``new``/``acknowledged``) per tenant, sensor, kind
   and key takes the repeats (``count``, ``ts_last``); otherwise a new alert whose id is derived
   from tenant, sensor, kind, key and first time — the same data gives the same alerts.
4. New sensors' learning rows (their first data times) and the baseline are written, then per
   tenant the notifications of the alerts raised (forwarding's outbox), then the alerts. Ingest
   detects a group of batches at once (``examine`` while their rows are stored, then ``write``):
   each batch is detected after the ones before it as if alone, and the group's learning rows,
   baseline rows and alerts are one insert each. What a group needs from the store is read with one
   query per kind for all its tenants and sensors, and its batches' sightings and indicator matches
   are worked out in one Arrow pass (``observe``, ``indicators.matches``). If a write fails, the
   group is not acknowledged: its batches are stored again each on its own, and detected again.

Crash safety: ingest (core/ingest.py) detects a batch after storing its rows and before writing its
commit marker. If the core stops in between, the sensor got no reply and resends the batch, which
is stored and detected again: ``detect`` is idempotent per batch (an alert that already took this
batch, by its ``last_batch``, is not raised or folded again; the baseline is a set). A committed
batch is a duplicate and never detected twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.detect import baseline, budget, notify, registry
from core.detect import store as alerts
from core.detect.baseline import Baseline
from core.detect.indicators import Indicators, matches
from core.detect.kinds import KINDS, OPEN_STATUSES, Finding
from core.detect.observe import MAX_EVIDENCE, Sighting, sightings
from core.detect.rules.common import shared
from core.detect.site import Site, site_of
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import ControlPlane, Sensor, Tenant, utcnow
from sensor import wire

log = logging.getLogger(__name__)

DEFAULT_LEARNING_HOURS = 168
DEFAULT_SILENT_MINUTES = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def alert_id(tenant_id: int, sensor_id: int, kind: str, key: str, ts: int) -> str:
    return hashlib.sha256(f"{tenant_id}|{sensor_id}|{kind}|{key}|{ts}".encode()).hexdigest()[:32]


@dataclass
class Detection:
    """What ``Detector.examine`` found in a group of batches, held in the caches and not yet written."""

    batches: list[tuple[int, int, wire.Batch]]
    changed: list[list[dict]] = field(default_factory=list)  # per batch: the alert rows raised or folded
    raised: dict[int, list[dict]] = field(default_factory=dict)  # per tenant: the rows raised (to notify)
    learned: list[dict] = field(default_factory=list)  # baseline rows
    first_data: list[dict] = field(default_factory=list)  # learning rows: sensors' first data times


class Detector:
    """Runs detection for stored batches; one per process (it caches baseline and indicators)."""

    def __init__(self, ch: ClickHouseStore, controlplane: ControlPlane, new_per_batch: int = budget.DEFAULT_BUDGET):
        self.ch = ch
        self.controlplane = controlplane
        self.budget = new_per_batch  # of each kind a batch works out one by one (core/detect/budget.py)
        self.baseline = Baseline(ch)
        self.indicators = Indicators(ch)
        self._learning: dict[tuple[int, int, int], int] = {}  # (tenant, sensor, epoch) → first µs
        self._open = OpenAlerts(ch)
        self._guard = threading.Lock()

    # -- per batch ------------------------------------------------------------------------------

    def detect(self, tenant_id: int, sensor_id: int, batch: wire.Batch) -> list[dict]:
        """Detect one batch whose rows are stored (callers serialise per sensor); the alerts raised
        or folded."""
        return self.detect_group([(tenant_id, sensor_id, batch)])[0]

    def detect_group(self, batches: list[tuple[int, int, wire.Batch]]) -> list[list[dict]]:
        """Detect stored batches (tenant, sensor, batch), each after the ones before it; per batch
        the alerts raised or folded (``examine``, then ``write``)."""
        return self.write(self.examine(batches))

    def examine(self, batches: list[tuple[int, int, wire.Batch]]) -> Detection:
        """Detect batches (tenant, sensor, batch), each after the ones before it — the same alerts as
        one by one: the caches of open alerts and of the baseline take in each batch's, so the next
        sees what it raised and learned — without writing anything (``write`` stores it all at once,
        ``discard`` forgets it), so it may run while the batches' rows are being stored. What the
        group needs from the store is read up front, one query each for all its tenants and sensors
        (policies, first data times, open alerts, the baseline's answers for every key the batches
        show), and the batches' sightings are worked out together. A batch whose detection fails is
        logged and gets no alerts."""
        policies = self._policies({tenant_id for tenant_id, _, _ in batches})
        self._load_first_data({(tenant_id, sensor_id, policies[tenant_id][1]) for tenant_id, sensor_id, _ in batches})
        self._open.load({(tenant_id, sensor_id) for tenant_id, sensor_id, _ in batches})
        shown = _together(batches, "sightings", lambda group: sightings(
            [batch for _, _, batch in group], [policies[tenant_id][2] for tenant_id, _, _ in group]))
        indicated = _together(batches, "indicator matching", lambda group: matches(
            [batch for _, _, batch in group], [self.indicators.of(tenant_id) for tenant_id, _, _ in group]))
        shown = [None if seen is None else _latest(seen) for seen in shown]
        # the store is asked about the keys within each batch's budget (as the cache stands before
        # the group: the batches before one in the group may leave it fewer news, never more)
        self.baseline.load({tenant_id for tenant_id, _, _ in batches})
        bounded = [self._bounded(tenant_id, sensor_id, batch, seen, policies[tenant_id])
                   for (tenant_id, sensor_id, batch), seen in zip(batches, shown)]
        wanted: dict[int, set[tuple[str, str]]] = {}
        for (tenant_id, _, _), within in zip(batches, bounded):
            kept = within[0] if within else None
            wanted.setdefault(tenant_id, set()).update((s.kind, s.key) for s in kept or ())
        self.baseline.prefetch(wanted)
        found = Detection(batches)
        tenants = set()  # of the batches before: a batch of one of them counts its news again
        for (tenant_id, sensor_id, batch), seen, within, listed in zip(batches, shown, bounded, indicated):
            try:
                if seen is None or listed is None or within is None:
                    raise RuntimeError("its sightings, budget or indicator matches failed")  # logged as they did
                if tenant_id in tenants:  # the batches before it may have learned or raised some of its news
                    within = self._within(tenant_id, sensor_id, batch, seen, policies[tenant_id])
                tenants.add(tenant_id)
                rows, raised, learned = self._detect_one(tenant_id, sensor_id, batch, policies[tenant_id], within,
                                                         listed, found.first_data)
            except Exception:  # this batch's alerts are lost; the others go on
                log.exception("detection failed on batch %s of sensor %s", batch.batch_id, sensor_id)
                rows, raised, learned = [], [], []
            found.changed.append(rows)
            found.learned += learned
            found.raised.setdefault(tenant_id, []).extend(raised)
        return found

    def write(self, found: Detection) -> list[list[dict]]:
        """Store what ``examine`` found: one insert of baseline rows, a control-plane transaction per
        tenant for the notifications and one insert of alerts for all its batches; per batch the
        alerts. On failure the caches forget what the batches took in and the error propagates."""
        try:
            self._write([row for rows in found.changed for row in rows], found.raised, found.learned,
                        found.first_data)
        except Exception:
            self.discard(found)
            raise
        return found.changed

    def discard(self, found: Detection) -> None:
        """Forget what ``examine`` took into the caches (it is not stored): they load again when asked."""
        for tenant_id, sensor_id, _ in found.batches:
            self._open.forget(tenant_id, sensor_id)
            self.baseline.forget(tenant_id)
        with self._guard:
            for row in found.first_data:
                self._learning.pop((row["tenant_id"], row["sensor_id"], row["epoch"]), None)

    def _detect_one(self, tenant_id: int, sensor_id: int, batch: wire.Batch, policy: tuple[float, int, Site],
                    within: tuple[list[Sighting], budget.Flood | None], indicated: list[Finding],
                    first_data: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
        """One batch, given its sightings within its budget (one per key) and what the budget cut
        (``_within``), and its indicator matches: the alert rows it raised or folded, those of them
        raised, and the baseline rows it learned (kept in the caches, not written); a sensor's first
        batch adds its learning row to ``first_data``."""
        hours, epoch, site = policy
        start = micros(batch.interval_start)
        learning = _learns(start, self._first_data(tenant_id, sensor_id, epoch, start, first_data), hours)
        seen, flood = within
        known = self.baseline.lookup(tenant_id, {(s.kind, s.key) for s in seen})
        findings = list(indicated)
        # an attribute's value is always kept current; anything else is learned only while learning;
        # after it, nothing of a kind the batch floods (core/detect/budget.py)
        kept = flood.kinds if flood and not learning else ()
        learned = [(s.kind, s.key, s.value) for s in seen if known.get((s.kind, s.key)) != s.value
                   if s.kind not in kept and (s.kind == "attribute" or (learning and (s.kind, s.key) not in known))]
        if not learning:
            findings += _news(seen, known)
            with shared(batch):  # the rules share one conversion of the batch's rows
                for name, rules in registry.rules():
                    try:
                        findings += rules(batch, site)
                    except Exception:  # one broken rule must not stop the others
                        log.exception("rule module %s failed on batch %s", name, batch.batch_id)
        rows, raised = self._fold(tenant_id, sensor_id, batch.batch_id, findings, flood,
                                  (start, micros(batch.interval_end)))
        return rows, raised, self.baseline.learn(tenant_id, learned, batch.interval_end)

    def _bounded(self, tenant_id: int, sensor_id: int, batch: wire.Batch, seen: list[Sighting] | None,
                 policy: tuple[float, int, Site]) -> tuple[list[Sighting] | None, budget.Flood | None] | None:
        """``_within`` of a batch before the group is examined; None if it failed (logged: the batch
        gets no alerts, the others go on)."""
        if not seen:
            return seen, None
        try:
            return self._within(tenant_id, sensor_id, batch, seen, policy)
        except Exception:
            log.exception("the budget of batch %s of sensor %s failed", batch.batch_id, sensor_id)
            return None

    def _within(self, tenant_id: int, sensor_id: int, batch: wire.Batch, seen: list[Sighting],
                policy: tuple[float, int, Site]) -> tuple[list[Sighting], budget.Flood | None]:
        """The sightings within the batch's budget, and what it cut. News are counted against the
        cached baseline; when they seem to flood, after learning the keys whose alert is open from
        before this batch are no news (they fold: a steady flood's next batch reaches the keys after
        the first ones), and the suspected news are looked up in the store (another worker may have
        learned them) until the flood is certain."""
        cached = self.baseline.cached(tenant_id, {(s.kind, s.key) for s in seen})
        kept, flood = budget.within(seen, cached, self.budget)
        if not flood:
            return kept, flood
        hours, epoch, _ = policy
        start = micros(batch.interval_start)
        with self._guard:
            first = self._learning.get((tenant_id, sensor_id, epoch), start)
        covered = set() if _learns(start, first, hours) else self._covered(tenant_id, sensor_id, batch.batch_id, seen)
        confirmed: set[tuple[str, str]] = set()
        while ask := budget.suspects(seen, cached, covered, confirmed, self.budget):
            cached.update(self.baseline.confirm(tenant_id, ask))
            confirmed |= ask
        return budget.within(seen, cached, self.budget, covered)

    def _covered(self, tenant_id: int, sensor_id: int, batch_id: str, seen: list[Sighting]) -> set[tuple[str, str]]:
        """The keys of ``seen`` whose alert (``budget.ALERTS``) is open from before this batch (one
        this batch raised, found again on a resend, is not), and the addresses a covered MAC shows
        (they raise no alert of their own)."""
        open_rows = self._open.of(tenant_id, sensor_id)
        out = set()
        for s in seen:
            row = open_rows.get((budget.ALERTS.get(s.kind), s.key))
            if row and not (row["last_batch"] == batch_id
                            and row["id"] == alert_id(tenant_id, sensor_id, row["kind"], s.key, s.finding.ts)):
                out.add((s.kind, s.key))
        out.update(("device", s.key) for s in seen if s.kind == "device" and ("device", s.value) in out)
        return out

    def _write(self, rows: list[dict], raised: dict[int, list[dict]], learned: list[dict],
               first_data: list[dict] = ()) -> None:
        """The learning rows and the baseline rows; then per tenant its notifications, each tenant in a
        transaction of its own; then the alert rows of the tenants whose notifications were queued. An alert is stored
        only once it is in the outbox: a stored alert is never raised again (its ``last_batch``), so
        one stored before its notification failed would never be forwarded. The other way round, a
        resend raises it again with the same id: forwarded twice at worst, never lost. Raises if
        anything failed (after storing what did not), so the batches are not acknowledged and are
        stored again, each on its own (core/ingest/group.py)."""
        if first_data:
            self.ch.insert_rows("detect_learning", list(first_data))
        baseline.write(self.ch, learned)
        failed: dict[int, Exception] = {}
        for tenant_id, new in raised.items():
            if not new:
                continue
            try:
                with self.controlplane.session() as db:
                    notify.send(db, tenant_id, *(alerts.public(row, []) for row in new))
            except Exception as error:  # this tenant's alerts wait for the resend; the others go on
                failed[tenant_id] = error
        notified = [row for row in rows if row["tenant_id"] not in failed]
        if notified:
            alerts.write(self.ch, notified)
        if failed:
            raise NotificationFailed(sorted(failed)) from next(iter(failed.values()))

    def _policies(self, tenant_ids: set[int]) -> dict[int, tuple[float, int, Site]]:
        """Each tenant's learning period (hours), learning epoch and site."""
        with self.controlplane.session() as db:
            tenants = {t.id: t for t in db.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)))}
        return {tenant_id: self._policy(tenant_id, tenants.get(tenant_id)) for tenant_id in tenant_ids}

    @staticmethod
    def _policy(tenant_id: int, tenant: Tenant | None) -> tuple[float, int, Site]:
        if tenant is None:
            return DEFAULT_LEARNING_HOURS, 0, Site(tenant_id)
        hours = DEFAULT_LEARNING_HOURS if tenant.learning_hours is None else tenant.learning_hours
        return hours, tenant.learning_epoch or 0, site_of(tenant)

    def _load_first_data(self, keys: set[tuple[int, int, int]]) -> None:
        """Cache what the store holds of these (tenant, sensor, epoch)'s first data times: one query."""
        with self._guard:
            missing = [key for key in keys if key not in self._learning]
        if not missing:
            return
        rows = self.ch.query(
            "SELECT tenant_id, sensor_id, epoch, min(first_ts) AS first FROM detect_learning "
            "WHERE (tenant_id, sensor_id, epoch) IN {keys:Array(Tuple(UInt32, UInt32, UInt32))} "
            "GROUP BY tenant_id, sensor_id, epoch", {"keys": missing})
        with self._guard:
            self._learning.update(((r["tenant_id"], r["sensor_id"], r["epoch"]), micros(r["first"])) for r in rows)

    def _first_data(self, tenant_id: int, sensor_id: int, epoch: int, start: int, new: list[dict]) -> int:
        """The sensor's first data time (µs) in the epoch, once ``_load_first_data`` asked the store;
        this batch's start if it is the first (its learning row added to ``new``, written with the
        group's detection)."""
        key = (tenant_id, sensor_id, epoch)
        with self._guard:
            first = self._learning.get(key)
        if first is None:
            first = start
            new.append({"tenant_id": tenant_id, "sensor_id": sensor_id, "epoch": epoch,
                        "first_ts": from_micros(start)})
            with self._guard:
                self._learning[key] = first
        return first

    def _fold(self, tenant_id: int, sensor_id: int, batch_id: str, findings: list[Finding],
              flood: budget.Flood | None = None, span: tuple[int, int] = (0, 0)) -> tuple[list[dict], list[dict]]:
        """The alert rows the findings raise or fold into (kept in the open-alert cache, not
        written), and those of them raised: at most the budget of new alerts of a kind, the rest and
        ``flood`` (the sightings the budget cut) as one ``new_flood`` finding over ``span``."""
        merged = _merge(findings)
        if not merged and not flood:
            return [], []
        open_rows = self._open.of(tenant_id, sensor_id)

        def raising(kind: str, key: str, f: Finding) -> bool:  # a new alert, or one this batch raised
            row = open_rows.get((kind, key))
            return row is None or (row["last_batch"] == batch_id
                                   and row["id"] == alert_id(tenant_id, sensor_id, kind, key, f.ts))
        merged, flood = budget.raises_within(merged, raising, self.budget, flood)
        if flood:
            merged[(budget.KIND, budget.KEY)] = flood.finding(*span)
        rows, raised = [], []
        for (kind, key), f in merged.items():
            row = open_rows.get((kind, key))
            if row is None:
                row = _new_row(tenant_id, sensor_id, batch_id, f)
                raised.append(row)
            elif row["last_batch"] == batch_id:
                continue  # this batch was folded in before the core stopped
            else:
                evidence = list(row["evidence"])
                evidence += [u for u in f.evidence if u not in evidence][:MAX_EVIDENCE - len(evidence)]
                row = row | {"count": row["count"] + f.count, "evidence": evidence, "last_batch": batch_id,
                             "ts_last": max(row["ts_last"], from_micros(f.ts_last)),
                             # +1, not the clock: an analyst's change made meanwhile (a clock
                             # version) outranks a fold that started from the row before it
                             "version": row["version"] + 1}
                if kind == budget.KIND:
                    row["details"] = budget.folded(row["details"], f)
            rows.append(row)
        self._open.wrote(tenant_id, sensor_id, rows)
        return rows, raised

    # -- periodic -------------------------------------------------------------------------------

    def check_silent(self, now: datetime | None = None) -> list[dict]:
        """Raise ``sensor_silent`` for each sensor whose last upload is older than its threshold
        (``silent_minutes``, default 30); the alerts raised or folded (stored rows)."""
        now = now or utcnow()
        with self.controlplane.session() as db:
            sensors = db.execute(select(Sensor.tenant_id, Sensor.id, Sensor.serial, Sensor.last_seen,
                                        Sensor.silent_minutes).where(Sensor.last_seen.is_not(None))).all()
        changed = []
        for tenant_id, sensor_id, serial, last_seen, minutes in sensors:
            limit = timedelta(minutes=minutes or DEFAULT_SILENT_MINUTES)
            if now - last_seen <= limit:
                continue
            since = micros(last_seen + limit)
            finding = Finding("sensor_silent", f"sensor:{sensor_id}", since, micros(now),
                              details=(("sensor", serial), ("last_seen", last_seen.isoformat()),
                                       ("threshold_minutes", str(int(limit.total_seconds() // 60)))))
            # folded per check: the "batch" of a silence check is its minute
            self._open.load({(tenant_id, sensor_id)})
            rows, raised = self._fold(tenant_id, sensor_id, f"silent:{now:%Y%m%d%H%M}", [finding])
            try:
                self._write(rows, {tenant_id: raised}, [])
            except Exception:
                self._open.forget(tenant_id, sensor_id)
                raise
            changed += rows
        return changed


class NotificationFailed(RuntimeError):
    """Some tenants' alerts could not be queued for forwarding (nor were they stored)."""

    def __init__(self, tenant_ids: list[int]):
        super().__init__(f"the notifications of tenants {tenant_ids} failed; their alerts are not stored")


class OpenAlerts:
    """Each sensor's open alerts by (kind, key), so folding costs no query per batch. Loaded from
    ``alerts`` — for a group's sensors in one query — and kept with what detection writes; loaded
    again after an analyst's change in this process (``store.analyst_writes``) and at least every
    RELOAD_S seconds (another process's), when a group starts (``load``), never within one."""

    RELOAD_S = 30.0

    def __init__(self, ch: ClickHouseStore):
        self.ch = ch
        self._cache: dict[tuple[int, int], tuple[float, int, dict[tuple[str, str], dict]]] = {}

    def load(self, sensors: set[tuple[int, int]]) -> None:
        """Load the open alerts of these (tenant, sensor) whose copy is missing or stale: one query."""
        now = time.monotonic()
        stale = sorted(key for key in sensors if not ((cached := self._cache.get(key))
                       and cached[1] == alerts.analyst_writes and now - cached[0] < self.RELOAD_S))
        if not stale:
            return
        generation = alerts.analyst_writes
        loaded: dict[tuple[int, int], dict[tuple[str, str], dict]] = {key: {} for key in stale}
        for r in self.ch.query(
                "SELECT * FROM alerts FINAL WHERE (tenant_id, sensor_id) IN {keys:Array(Tuple(UInt32, UInt32))} "
                "AND status IN {open:Array(String)}", {"keys": stale, "open": list(OPEN_STATUSES)}):
            loaded[(r["tenant_id"], r["sensor_id"])][(r["kind"], r["key"])] = r
        for key, rows in loaded.items():
            self._cache[key] = (now, generation, rows)

    def of(self, tenant_id: int, sensor_id: int) -> dict[tuple[str, str], dict]:
        """The sensor's open alerts as loaded (``load``) and written since."""
        if (tenant_id, sensor_id) not in self._cache:
            self.load({(tenant_id, sensor_id)})
        return self._cache[(tenant_id, sensor_id)][2]

    def wrote(self, tenant_id: int, sensor_id: int, rows: list[dict]) -> None:
        cached = self._cache.get((tenant_id, sensor_id))
        if cached:
            cached[2].update(((r["kind"], r["key"]), r) for r in rows)

    def forget(self, tenant_id: int, sensor_id: int) -> None:
        """Drop the sensor's cache (rows it took in were not stored): loaded again when asked."""
        self._cache.pop((tenant_id, sensor_id), None)


def _together(batches: list[tuple[int, int, wire.Batch]], what: str, work) -> list:
    """``work`` (a result per batch of a list of (tenant, sensor, batch)) on the group's batches
    together; if that fails, on each batch alone — None for a batch whose own fails (logged: it gets
    no alerts, the others go on)."""
    try:
        return work(batches)
    except Exception:
        log.exception("%s failed for a group of %d batches; each batch on its own", what, len(batches))
    out = []
    for one in batches:
        try:
            out += work([one])
        except Exception:
            log.exception("%s failed on batch %s of sensor %s", what, one[2].batch_id, one[1])
            out.append(None)
    return out


def _learns(start: int, first: int, hours: float) -> bool:
    """Whether a batch starting at ``start`` (µs) is in its sensor's learning period (from ``first``)."""
    return start < first + hours * 3_600_000_000


def _latest(seen: list[Sighting]) -> list[Sighting]:
    """One sighting per key: the last value of an attribute, the first sighting of anything else."""
    out: dict[tuple[str, str], Sighting] = {}
    for s in seen:
        old = out.get((s.kind, s.key))
        if old is None or (s.kind == "attribute" and s.ts >= old.ts):
            out[(s.kind, s.key)] = s
    return list(out.values())


def _news(seen: list[Sighting], known: dict[tuple[str, str], str]) -> list[Finding]:
    """Findings of what the baseline lacks, and of attributes whose value changed."""
    new_macs = {s.key for s in seen if s.kind == "device" and (s.kind, s.key) not in known}
    out = []
    for s in seen:
        if s.kind == "attribute":
            before = known.get((s.kind, s.key))
            if before is not None and before != s.value:
                out.append(replace(s.finding, details=s.finding.details + (("previous", before),)))
        elif (s.kind, s.key) not in known and not (s.kind == "device" and s.value in new_macs):
            out.append(s.finding)
    return out


def _merge(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    """Findings of one kind and key in the batch as one (first time, last time, summed count)."""
    out: dict[tuple[str, str], Finding] = {}
    for f in findings:
        if f.kind not in KINDS:
            log.warning("finding of unknown kind %r dropped", f.kind)
            continue
        old = out.get((f.kind, f.key))
        if not all(f.evidence):
            f = replace(f, evidence=tuple(u for u in f.evidence if u))
        if old is None:
            out[(f.kind, f.key)] = (f if len(f.evidence) <= MAX_EVIDENCE
                                    else replace(f, evidence=f.evidence[:MAX_EVIDENCE]))
        else:
            evidence = old.evidence + tuple(u for u in f.evidence if u not in old.evidence)
            out[(f.kind, f.key)] = replace(old, ts=min(old.ts, f.ts), ts_last=max(old.ts_last, f.ts_last),
                                           count=old.count + f.count, evidence=evidence[:MAX_EVIDENCE])
    return out


def _new_row(tenant_id: int, sensor_id: int, batch_id: str, f: Finding) -> dict:
    kind = KINDS[f.kind]
    return {
        "tenant_id": tenant_id, "id": alert_id(tenant_id, sensor_id, f.kind, f.key, f.ts), "sensor_id": sensor_id,
        "kind": f.kind, "key": f.key, "ts": from_micros(f.ts), "ts_last": from_micros(max(f.ts, f.ts_last)),
        "count": f.count, "severity": f.effective_severity(), "title_ja": kind.title_ja, "title_en": kind.title_en,
        "src_ip": f.src_ip, "src_mac": f.src_mac, "src_device": f.src_mac or f.src_ip,
        "dst_ip": f.dst_ip, "dst_mac": f.dst_mac, "dst_device": f.dst_mac or f.dst_ip,
        "protocol": f.protocol, "details": {str(k): str(v) for k, v in f.details}, "technique": kind.technique,
        "evidence": list(f.evidence), "status": "new", "assignee": "", "last_batch": batch_id,
        "version": alerts.next_version(),
    }
