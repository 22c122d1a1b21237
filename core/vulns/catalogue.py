"""Names: vendor keys from the many spellings of a vendor, product families from catalogue numbers
and from advisory product names (the per-vendor tables in ``data/``), and the model patterns an
advisory's product names carry (``DS-2CD2xx2F-I``, ``CJ2M-CPU □ □``, ``R04/08/16/32/120CPU``)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources

_DATA = resources.files("core.vulns") / "data"


def _rows(path) -> list[dict]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


@cache
def _vendor_names() -> list[tuple[str, str]]:
    return [(name, row["vendor"]) for row in _rows(_DATA / "vendors.csv") for name in row["names"].split("|")]


def vendor_key(name: str) -> str:
    """The vendor's key (``rockwell``, ``schneider``…), or "" for a vendor the tables do not know."""
    text = " ".join(re.sub(r"[^\w/&-]+", " ", name.lower()).split())
    for words, key in _vendor_names():
        if re.search(rf"(?:^|[\s/]){re.escape(words)}\b", text):
            return key
    return ""


@dataclass(frozen=True)
class Family:
    vendor: str
    name: str
    advisory: tuple[str, ...]  # globs on an advisory's product name (upper case)
    catalogue: tuple[str, ...]  # globs on a device's model (normalised)


@cache
def families() -> tuple[Family, ...]:
    found = []
    for entry in sorted((_DATA / "families").iterdir(), key=lambda e: e.name):
        for row in _rows(entry):
            found.append(Family(entry.name.removesuffix(".csv"), row["family"],
                                tuple(p.upper() for p in row["advisory"].split("|")),
                                tuple(row["catalogue"].split("|"))))
    return tuple(found)


def model_key(model: str) -> str:
    """A model as the tables compare it: upper case, no spaces."""
    return re.sub(r"\s+", "", model).upper()


def device_families(vendor: str, model: str) -> frozenset[str]:
    """Families of a device's model: by its catalogue number, or a model that is a family's name."""
    key, text = model_key(model), " ".join(model.split()).upper()
    return frozenset(f.name for f in families() if f.vendor == vendor and (
        any(fnmatchcase(key, p) for p in f.catalogue) or any(fnmatchcase(text, p) for p in f.advisory)))


def vendor_of_model(model: str) -> str:
    """The one vendor whose catalogue numbers a model matches ("" when none or several do)."""
    key = model_key(model)
    vendors = {f.vendor for f in families() if any(fnmatchcase(key, p) for p in f.catalogue)}
    return vendors.pop() if len(vendors) == 1 else ""


def product_families(vendor: str, name: str) -> frozenset[str]:
    """Families an advisory's product name belongs to."""
    text = " ".join(name.split()).upper()
    return frozenset(f.name for f in families() if f.vendor == vendor and any(fnmatchcase(text, p) for p in f.advisory))


_SERIES = re.compile(r"\b([A-Z0-9]+-[A-Z0-9]+)\s+Series\s+([A-Z])\b")
_CATALOGUE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z□])[A-Za-z0-9□*/()-]{5,}$")
_NOT_A_MODEL = re.compile(r"^(?:V?\d+(?:\.\d+)+|CVE-.*|S7-\d+|ET200\w*|\d+[A-Z]{0,2})$", re.I)


def model_patterns(*names: str) -> frozenset[str]:
    """Globs on a normalised model that the product names state (Series letters as ``/D``, ``□``,
    lower-case ``x`` and runs of ``X`` as wildcards, slash lists expanded)."""
    found: set[str] = set()
    for name in names:
        own: set[str] = set()
        text = re.sub(r"\s*□\s*", "□", name)
        text = re.sub(r"\bDS-\s+", "DS-", text)
        text = re.sub(r"(\S+)\((\w+)\)\s*(CPU)\b", r"\1\3 \1\2\3", text)  # R04/…/120(EN) CPU
        text = re.sub(r"(/\d+)\s+CPU\b", r"\1CPU", text)  # R00/01/02 CPU
        text = _SERIES.sub(r"\1/\2", text)
        text = re.sub(r"(\S)\s+Series\b", r"\1*", text)
        for token in re.split(r"[\s,:;]+", text):
            token = token.strip("()")
            if _CATALOGUE.match(token) and not _NOT_A_MODEL.match(token):
                own.update(_globs(token))
        if len(name.split()) <= 2 and re.search(r"\d", name) and not any(set(p) & set("*?") for p in own):
            own.add(model_key(name))  # the product's name is its model: NPort 5110, AXIS A1001
        found |= own
    return frozenset(found)


def _globs(token: str) -> list[str]:
    if m := re.fullmatch(r"([A-Z]+)(\d+(?:/\d+)+)(\w*)", token):  # R04/08/16/32/120CPU
        prefix, numbers, suffix = m.groups()
        return [f"{prefix}{n}{suffix}" for n in numbers.split("/")]
    if "/" in token and not re.search(r"/[A-Z]$", token):  # CP1E/CP1H: family names, not models
        return []
    wild = "□" in token or re.search(r"\dx|x\d|xx|XX+$|[A-Z0-9]x$", token)
    pattern = re.sub(r"X{2,}$", "*", re.sub(r"(?<=[\dA-Z])x|x(?=[\dA-Z])", "?", token))
    pattern = pattern.replace("□", "?").upper()
    return [pattern + ("*" if wild and not pattern.endswith("*") else "")]


def model_matches(model: str, patterns: frozenset[str]) -> bool:
    key = model_key(model)
    return bool(key) and any(fnmatchcase(key, p) for p in patterns)
