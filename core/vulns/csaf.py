"""CSAF 2.0 advisories read into what matching needs: per product its vendor, the product name
(family) and version condition from the product tree, model numbers; per vulnerability its CVE,
highest CVSS v3 base score, title, affected products and remediations per product.

Validation is what the import relies on (a document that is CSAF 2.0 with a tracking id and
release date, a product tree and vulnerabilities), not the whole OASIS schema: anything else is
refused with a ``CsafError`` naming what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

MAX_BYTES = 20 * 1024 * 1024
AFFECTED = ("known_affected", "first_affected", "last_affected")


class CsafError(ValueError):
    """Not a CSAF 2.0 advisory this importer can read; the message says why."""


@dataclass(frozen=True)
class Product:
    product_id: str
    vendor: str
    family: str  # the product_name branch: "SIMATIC S7-1200 CPU family", "DS-2CD2xx2F-I Series"
    name: str  # full_product_name.name
    condition: str  # the product_version(_range) branch name; "" when the tree has none
    kind: str  # "range", "version" or ""
    model_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    cvss: float
    title: str
    products: tuple[str, ...]
    remediations: dict[str, str] = field(default_factory=dict)  # product id → what to do


@dataclass(frozen=True)
class Advisory:
    advisory_id: str
    title: str
    publisher: str
    revision: str
    initial_release: datetime
    current_release: datetime
    products: tuple[Product, ...]
    vulnerabilities: tuple[Vulnerability, ...]


def read(path: Path) -> Advisory:
    """Read one CSAF file; raises CsafError."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CsafError(f"larger than {MAX_BYTES // 1024 // 1024} MiB")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise CsafError(exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CsafError(f"not JSON ({exc})") from None
    return parse(data)


def parse(data) -> Advisory:
    """A CSAF document (parsed JSON) read into an Advisory; raises CsafError."""
    try:
        return _parse(data)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        if isinstance(exc, CsafError):
            raise
        raise CsafError(f"malformed document ({type(exc).__name__}: {exc})") from None


def _parse(data) -> Advisory:
    document = _object(data, "the file").get("document")
    tracking = _object(document, "document").get("tracking")
    _object(tracking, "document.tracking")
    version = document.get("csaf_version")
    if version != "2.0":
        raise CsafError(f"csaf_version is {version!r}, not '2.0'")
    advisory_id = _text(tracking.get("id"), "document.tracking.id")
    products = _products(_object(data.get("product_tree"), "product_tree"))
    vulnerabilities = data.get("vulnerabilities")
    if not isinstance(vulnerabilities, list) or not vulnerabilities:
        raise CsafError("no vulnerabilities list")
    known = {p.product_id for p in products}
    return Advisory(
        advisory_id=advisory_id,
        title=_text(document.get("title"), "document.title"),
        publisher=str((document.get("publisher") or {}).get("name", "")),
        revision=str(tracking.get("version", "")),
        initial_release=_time(tracking.get("initial_release_date"), "initial_release_date"),
        current_release=_time(tracking.get("current_release_date"), "current_release_date"),
        products=tuple(products),
        vulnerabilities=tuple(_vulnerability(v, i, known) for i, v in enumerate(vulnerabilities)),
    )


def _products(tree: dict) -> list[Product]:
    found: list[Product] = []

    def walk(branches, vendor: str, family: str, condition: str, kind: str) -> None:
        if not isinstance(branches, list):
            raise CsafError("product_tree.branches is not a list")
        for branch in branches:
            b = _object(branch, "a product_tree branch")
            category, name = b.get("category"), str(b.get("name", ""))
            v, f, c, k = vendor, family, condition, kind
            if category == "vendor":
                v = name
            elif category in ("product_name", "product_family"):
                f = name if not f or category == "product_name" else f
            elif category == "product_version":
                c, k = name, "version"
            elif category == "product_version_range":
                c, k = name, "range"
            if "product" in b:
                found.append(_product(b["product"], v, f, c, k))
            if "branches" in b:
                walk(b["branches"], v, f, c, k)

    walk(tree.get("branches", []), "", "", "", "")
    for full in tree.get("full_product_names", []) or []:
        found.append(_product(full, "", "", "", ""))
    if not found:
        raise CsafError("the product tree names no product")
    return found


def _product(product, vendor: str, family: str, condition: str, kind: str) -> Product:
    p = _object(product, "a product")
    helper = p.get("product_identification_helper") or {}
    numbers = helper.get("model_numbers") or [] if isinstance(helper, dict) else []
    return Product(product_id=_text(p.get("product_id"), "product_id"), vendor=vendor.strip(),
                   family=family.strip(), name=str(p.get("name", "")).strip(), condition=condition.strip(),
                   kind=kind, model_numbers=tuple(str(n) for n in numbers))


def _vulnerability(v, index: int, known: set[str]) -> Advisory:
    v = _object(v, f"vulnerabilities[{index}]")
    status = v.get("product_status") or {}
    affected = tuple(dict.fromkeys(p for s in AFFECTED for p in status.get(s, []) or [] if p in known))
    scores = [s.get("cvss_v3", {}).get("baseScore") for s in v.get("scores", []) or [] if isinstance(s, dict)]
    scores = [float(s) for s in scores if isinstance(s, int | float) and 0 <= s <= 10]
    remediations: dict[str, list[str]] = {}
    for r in v.get("remediations", []) or []:
        if isinstance(r, dict) and r.get("details"):
            for pid in r.get("product_ids", []) or affected:
                remediations.setdefault(pid, []).append(" ".join(str(r["details"]).split()))
    return Vulnerability(
        cve=str(v.get("cve") or (v.get("ids") or [{}])[0].get("text", "")) or f"vulnerability {index + 1}",
        cvss=max(scores, default=0.0),
        title=str(v.get("title") or ""),
        products=affected,
        remediations={pid: "\n".join(dict.fromkeys(texts)) for pid, texts in remediations.items()},
    )


def _object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise CsafError(f"{what} is not a JSON object")
    return value


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CsafError(f"{what} is missing")
    return value.strip()


def _time(value, what: str) -> datetime:
    try:
        return datetime.fromisoformat(_text(value, what).replace("Z", "+00:00"))
    except ValueError:
        raise CsafError(f"{what} is not a date: {value!r}") from None
