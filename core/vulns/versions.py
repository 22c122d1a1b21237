"""Firmware versions as vendors write them, and the version conditions advisories state.

Comparison is univers' (aboutcode's `vers` library): a ``FirmwareVersion`` is a univers ``Version``
whose value is a tuple of integers, and a condition is a univers ``VersionRange`` of them, so
``version in range`` follows the `vers` rules. What univers cannot know is each vendor's notation,
and most CSAF files carry free text rather than `vers` strings; both are read here:

- ``V4.2.3``, ``4.2.3`` → (4, 2, 3); trailing zero parts do not count (4.5 = 4.5.0).
- Rockwell: a CIP revision ``33.11`` and ``V33.011`` are both (33, 11): parts are integers.
- Schneider: the minor is a two-digit fraction, ``v2.8`` = ``V2.80`` → (2, 80) > ``V2.30``.
- Hikvision: ``V5.4.0 build 160530`` → (5, 4, 0, 160530).
- Siemens service packs and hotfixes: ``V4.7 SP6 HF1`` → (4, 7, 6, 1).
- Mitsubishi serials ``39``/``05`` → (39,), (5,); Panasonic ``2.03-06`` → (2, 3, 6).

Conditions: ``vers:all/*`` and ``*`` (every version), ``vers:<scheme>/<constraints>`` (the scheme is
ignored: the range is read in the vendor's notation, which also copes with the malformed
``vers:all/<V3.2.16``), free-text bounds joined by ``|`` (``>= 35 | <= 51``), ``All versions < V4.2.3``,
a list of exact versions (``28.011 | 28.012``), an ``X`` part meaning "any" (``< V3.X.16``: per minor
train), fixed releases per major train (``<V33.017_V34.014_V35.013``: below each train's fix; any
older train is affected, any newer one is not), and a note in brackets, which is dropped except
``(only affected by CVE-…)``, which narrows the CVEs (``Condition.only_cves``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import attr
from univers.version_constraint import VersionConstraint
from univers.version_range import VersionRange
from univers.versions import Version

_BUILD = re.compile(r"\b(?:build|sp|hf)\s*", re.I)
_PARTS = re.compile(r"\d+|[xX](?![a-zA-Z])")
_NOTE = re.compile(r"\(([^)]*)\)")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_COMPARATOR = re.compile(r"^(<=|>=|!=|<|>|=)?\s*(.+)$")
_TRAINS = re.compile(r"^<\s*(V?\d+(?:\.\d+)+(?:_V?\d+(?:\.\d+)+)+)$", re.I)
ANY = -1  # an "X" part: matches whatever the device's part is


def parts(text: str, vendor: str = "") -> tuple[int, ...] | None:
    """The integer parts of a version in ``vendor``'s notation (None: no number in it)."""
    text = _BUILD.sub(".", text.strip().lstrip("vV"))
    found = [ANY if p in "xX" else int(p) for p in _PARTS.findall(text)]
    if not found:
        return None
    if vendor == "schneider" and len(found) >= 2 and re.match(r"^\d+\.\d(?!\d)", text):
        found[1] *= 10  # v2.8 is V2.80
    while len(found) > 1 and found[-1] == 0:
        found.pop()
    return tuple(found)


@attr.s(frozen=True, order=False, eq=True, hash=True)
class FirmwareVersion(Version):
    """A univers ``Version`` over integer parts; build it with ``FirmwareVersion.of``."""

    @classmethod
    def normalize(cls, string):
        return string

    @classmethod
    def is_valid(cls, string):
        return bool(re.fullmatch(r"\d+(?:\.\d+)*", string))

    @classmethod
    def build_value(cls, string):
        return tuple(int(p) for p in string.split("."))

    @classmethod
    def of(cls, numbers: tuple[int, ...]) -> FirmwareVersion:
        return cls(".".join(map(str, numbers)))

    def __lt__(self, other):
        return self.value < other.value

    def __le__(self, other):
        return self.value <= other.value

    def __gt__(self, other):
        return self.value > other.value

    def __ge__(self, other):
        return self.value >= other.value


class FirmwareRange(VersionRange):
    scheme = "firmware"
    version_class = FirmwareVersion


@dataclass(frozen=True)
class Condition:
    """A product's version condition. ``contains`` answers True, False, or None (cannot tell)."""

    text: str
    every: bool = False
    bounds: tuple[tuple[str, tuple[int, ...]], ...] = ()  # all must hold (a range)
    exact: tuple[tuple[int, ...], ...] = ()  # any of these versions
    trains: tuple[tuple[int, ...], ...] = ()  # the fixed release of each major train
    only_cves: frozenset[str] = frozenset()
    readable: bool = True

    def contains(self, version: tuple[int, ...] | None) -> bool | None:
        if self.every:
            return True
        if version is None or not self.readable:
            return None
        if self.exact:
            return any(_same(version, v) for v in self.exact)
        if self.trains:
            return _below_train_fix(version, self.trains)
        return _in_range(version, self.bounds)


def _same(version: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    return _in_range(version, (("=", wanted),))


def _in_range(version: tuple[int, ...], bounds) -> bool:
    constraints = [VersionConstraint(op, FirmwareVersion.of(_fill(bound, version))) for op, bound in bounds]
    return FirmwareVersion.of(version) in FirmwareRange(constraints=constraints)


def _fill(bound: tuple[int, ...], version: tuple[int, ...]) -> tuple[int, ...]:
    """A bound with its ``X`` parts taken from the device's version (``V3.X.16`` for 3.2.x → 3.2.16)."""
    filled = [version[i] if p == ANY and i < len(version) else max(p, 0) for i, p in enumerate(bound)]
    while len(filled) > 1 and filled[-1] == 0:
        filled.pop()
    return tuple(filled)


def _below_train_fix(version: tuple[int, ...], fixes: tuple[tuple[int, ...], ...]) -> bool:
    for fix in fixes:
        if version[0] == fix[0]:
            return _in_range(version, (("<", fix),))
    return version[0] < min(f[0] for f in fixes)


def condition(text: str, vendor: str = "") -> Condition:
    """Read a CSAF version condition (see the module's notes)."""
    raw = text
    only = frozenset()
    for note in _NOTE.findall(text):
        if "only affected" in note.lower():
            only = frozenset(_CVE.findall(note))
    text = _NOTE.sub("", text).strip()
    if text.lower().startswith("vers:"):
        text = text.split("/", 1)[1] if "/" in text else ""
    text = re.sub(r"^all versions\s*", "", text, flags=re.I).strip() or "*"
    if text == "*":
        return Condition(raw, every=True, only_cves=only)
    if m := _TRAINS.match(text):
        fixes = tuple(parts(f, vendor) for f in m.group(1).split("_"))
        return Condition(raw, trains=fixes, only_cves=only)
    bounds, exact = [], []
    for piece in filter(None, (p.strip() for p in text.split("|"))):
        op, value = _COMPARATOR.match(piece).groups()
        number = parts(value, vendor)
        if number is None:
            return Condition(raw, readable=False, only_cves=only)
        (bounds if op and op != "=" else exact).append((op, number) if op and op != "=" else number)
    if bounds and exact:
        return Condition(raw, readable=False, only_cves=only)
    return Condition(raw, bounds=tuple(bounds), exact=tuple(exact), only_cves=only)


def firmware(text: str, vendor: str = "") -> tuple[int, ...] | None:
    """A device's firmware string in its vendor's notation; None when it holds no version."""
    found = parts(text, vendor) if text else None
    return None if found is None or ANY in found else found
