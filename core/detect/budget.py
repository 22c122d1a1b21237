"""A batch's budget of new things: at most ``budget`` of each sort are worked out one by one, the rest
are counted in one ``new_flood`` alert.

A real site's batch shows few new things at a time (the corpus captures' and the simulated plant's
largest first batch: 224 baseline keys of all kinds, 76 of one kind); a crafted batch of 150,000
distinct addresses showed as many new devices and links, each looked up in the store and turned into
an alert, a notification and a row — seconds of work while the sensors of its group waited. So:

1. The baseline's kinds (``device``, ``link``, ``function``, ``attribute``), before the store is asked:
   a batch's *news* of a kind are its keys the baseline lacks (and attributes whose value differs; a
   device's MAC and its address are two keys, so 150,000 addresses behind one router's MAC — which
   raise no alert of their own — are bounded too). When a kind has more than ``budget`` news, the
   batch *floods* it: only its first ``budget`` news (in the batch's order) go on (looked up, and
   after learning raised as alerts as always), the rest are only counted. While learning, those
   first ones are learned; after it, nothing of a flooded kind is learned (an attribute's value is
   not kept current), but a key whose alert (``ALERTS``) is open from before the batch — or an
   address whose MAC's is — is no news: it folds into its alert. So a flood repeated every minute
   raises the next ``budget`` keys each time, and a real new device or link among them (or behind
   them) is raised within ⌈news / budget⌉ batches; then the flood stops. Keys beyond the budget are
   never learned: they stay new, and a later batch that shows them within the budget learns or
   raises them as any other. The budget is one per kind for the whole batch, in the batch's order,
   not shared out per originator: one source's flood may take all of it for a batch, but no longer
   than the batches it takes the window to pass its keys.
2. Every alert kind, when the batch's findings are folded: at most ``budget`` new alerts of one kind
   per batch (a rule or an indicator list meeting 150,000 distinct pairs); folds into open alerts
   are not limited.
3. What was cut is one finding of kind ``new_flood`` per batch, key ``new``: its count is the number
   of things cut, its details the budget and each flooded sort's total; repeats fold into the
   sensor's one open flood alert (counts summed, each sort's largest batch total kept).

A resend of the batch (the core stopped before its commit marker) cuts the same things: nothing of a
flooded kind was learned after learning, an alert the batch raised counts as news again (only one
open from before it is no news), and the first ``budget`` new alerts of a kind are chosen among the
keys with no open alert or with the one this batch raised, so nothing is raised twice. While
learning, a resend may learn up to ``budget`` more of a flooded kind (the first ones are known now);
its flood alert folds once. ``new_flood`` is raised while learning too: a flood is never normal, and
what it cut is not learned.

The news are counted against the baseline as this process holds it; when a batch seems to flood,
its suspected news (of each flooding kind, the first ``2 * budget + 1`` not yet asked; again while
the first ``budget + 1`` are not all asked) are looked up in the store first
(``Baseline.confirm``), so another worker's learning does not look like a flood — one query of at
most ``2 * budget + 1`` keys a kind for a real flood. What the budget does not bound is per row or
per distinct key and bounded by the batch size: Arrow's grouping, a ``Sighting`` per key, the rules'
rows, and an indicator finding per matching row before the fold cuts them (bench/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from core.config import Settings
from core.detect.kinds import Finding
from core.detect.observe import MAX_EVIDENCE, Sighting

DEFAULT_BUDGET: int = Settings.model_fields["detect_new_per_batch"].default
KIND = "new_flood"  # core.detect.kinds
KEY = "new"
# baseline kind → the detail that counts a flooded batch's news of it
SORTS = {"device": "devices", "link": "links", "function": "functions", "attribute": "attributes"}
# baseline kind → the alert its new keys raise (an attribute's changed value is news whatever is open)
ALERTS = {"device": "new_device", "link": "new_link", "function": "new_ot_function"}


@dataclass
class Flood:
    """What a batch's budget cut: per sort (a baseline kind's detail name, or an alert kind) the
    batch's total, and how many of them were cut; uids of cut things as evidence."""

    budget: int
    kinds: set[str] = field(default_factory=set)  # the baseline kinds it flooded
    totals: dict[str, int] = field(default_factory=dict)
    cut: int = 0
    evidence: list[str] = field(default_factory=list)

    def add(self, sort: str, total: int, uids=()) -> None:
        self.totals[sort] = total
        self.cut += total - self.budget
        self.evidence += [u for u in uids if u and u not in self.evidence][:MAX_EVIDENCE - len(self.evidence)]

    def finding(self, start: int, end: int) -> Finding:
        details = (("budget", str(self.budget)),) + tuple((sort, str(n)) for sort, n in self.totals.items())
        return Finding(KIND, KEY, start, end, self.cut, details=details, evidence=tuple(self.evidence))


def folded(details: dict | str, f: Finding) -> dict[str, str]:
    """An open flood alert's details (as stored: JSON) after another batch's flood ``f`` folds in:
    each sort's largest batch total, the budget now."""
    out = details if isinstance(details, dict) else json.loads(details or "{}")
    out = dict(out)
    for name, value in f.details:
        out[name] = value if name == "budget" else str(max(int(out.get(name, 0)), int(value)))
    return out


def news(seen: list[Sighting], cached: dict[tuple[str, str], str],
         covered: set[tuple[str, str]] = frozenset()) -> dict[str, list[Sighting]]:
    """Per baseline kind, the sightings (one per key) that are news to ``cached`` (the baseline's
    values of those keys it holds) and not ``covered`` (keys whose alert is open), in order."""
    out: dict[str, list[Sighting]] = {}
    for s in seen:
        if s.kind == "attribute":
            new = cached.get((s.kind, s.key)) != s.value
        else:
            new = (s.kind, s.key) not in cached and (s.kind, s.key) not in covered
        if new:
            out.setdefault(s.kind, []).append(s)
    return out


def suspects(seen: list[Sighting], cached: dict[tuple[str, str], str], covered: set[tuple[str, str]],
             confirmed: set[tuple[str, str]], budget: int) -> set[tuple[str, str]]:
    """The keys to look up in the store before a flood is believed: of each kind that seems to flood
    and whose first ``budget + 1`` news are not all ``confirmed`` (looked up already), its first
    ``2 * budget + 1`` news not confirmed. Empty: every flood is certain."""
    out: set[tuple[str, str]] = set()
    for items in news(seen, cached, covered).values():
        keys = [(s.kind, s.key) for s in items]
        if len(keys) > budget and not confirmed.issuperset(keys[:budget + 1]):
            out.update([k for k in keys if k not in confirmed][:2 * budget + 1])
    return out


def within(seen: list[Sighting], cached: dict[tuple[str, str], str], budget: int,
           covered: set[tuple[str, str]] = frozenset()) -> tuple[list[Sighting], Flood | None]:
    """The sightings a batch goes on with, and what its budget cut (None: nothing)."""
    found = news(seen, cached, covered)
    flooded = {kind: items for kind, items in found.items() if len(items) > budget}
    if not flooded:
        return seen, None
    flood = Flood(budget, set(flooded))
    cut: set[int] = set()
    for kind, items in flooded.items():
        cut.update(id(s) for s in items[budget:])
        flood.add(SORTS[kind], len(items), (s.uid for s in items[budget:budget + MAX_EVIDENCE]))
    # a flooded kind goes on with its first news (and what it does not count as news) only
    return [s for s in seen if id(s) not in cut], flood


def raises_within(merged: dict[tuple[str, str], Finding], raising, budget: int,
                  flood: Flood | None) -> tuple[dict[tuple[str, str], Finding], Flood | None]:
    """The findings a batch folds, with at most ``budget`` of each kind raising a new alert
    (``raising(kind, key, finding)``: it would, or this batch raised it before); what was cut added
    to ``flood`` (made if None)."""
    raised: dict[str, list[tuple[str, str]]] = {}
    for (kind, key), f in merged.items():
        if raising(kind, key, f):
            raised.setdefault(kind, []).append((kind, key))
    over = {kind: keys for kind, keys in raised.items() if len(keys) > budget}
    if not over:
        return merged, flood
    flood = flood or Flood(budget)
    cut = set()
    for kind, keys in over.items():
        cut.update(keys[budget:])
        flood.add(kind, len(keys), (u for k in keys[budget:budget + MAX_EVIDENCE] for u in merged[k].evidence[:1]))
    return {k: f for k, f in merged.items() if k not in cut}, flood
